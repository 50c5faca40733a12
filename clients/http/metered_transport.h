// MeteredTransport: the decorator that counts and times every upstream HTTP attempt for metrics
// (and logs it at debug level with the trace id of its traceparent header).
// It sits below RetryingTransport (CurlTransport <- MeteredTransport <- RetryingTransport), so
// each attempt is one sample:
//   upstream_requests_total{system,operation,status}
//   upstream_request_duration_seconds{system,operation}   (histogram, Send to `done`)
// `system` (servicenow | onspring | other) and `operation` come from ClassifyUpstreamRequest: the
// request's method and the shape of its URL path, never a value in it (no table name, app id or
// host). `status` is the HTTP status class ("2xx" ... "5xx") of a response, or the canonical
// code name of a transport error ("UNAVAILABLE", "DEADLINE_EXCEEDED", ...).
//
// Thread safety: as HttpTransport (Send from any thread, concurrently). The inner transport and
// the registry must outlive every call in progress.
#ifndef ONSYNC_CLIENTS_HTTP_METERED_TRANSPORT_H_
#define ONSYNC_CLIENTS_HTTP_METERED_TRANSPORT_H_

#include <string>
#include <string_view>

#include "clients/http/http_transport.h"
#include "common/metrics.h"

namespace onsync::clients {

struct UpstreamOperation {
  // "servicenow", "onspring" or "other".
  const char* system;
  // ServiceNow: table_read (GET /api/now/table/...), table_write (other methods there),
  // oauth_token (/oauth_token.do). Onspring: records_query (/Records/Query), records_get
  // (/Records/batch-get, GET /Records/appId/...), records_delete (DELETE /Records/appId/...),
  // records_save (PUT /Records), fields_read (/Fields/...), list_add (/Lists/id/.../items).
  // Anything else: "other".
  const char* operation;
};

// Classifies by method and path shape (case-insensitive path match; query ignored).
UpstreamOperation ClassifyUpstreamRequest(std::string_view method, std::string_view url);

// The `status` label of an attempt's result.
std::string UpstreamStatusLabel(const absl::StatusOr<HttpResponse>& result);

class MeteredTransport final : public HttpTransport {
 public:
  // `inner` and `registry` are not owned.
  MeteredTransport(HttpTransport& inner, metrics::Registry& registry);

  void Send(HttpRequest request, HttpCallback done) override;

 private:
  HttpTransport& inner_;
  const metrics::CounterFamily requests_;
  const metrics::HistogramFamily durations_;
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_METERED_TRANSPORT_H_
