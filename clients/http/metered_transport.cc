#include "clients/http/metered_transport.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/string_view.h"
#include "common/trace_context.h"

namespace onsync::clients {
namespace {

// The URL's path, lower-cased, without scheme, authority, query or fragment.
std::string PathOf(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
    const size_t slash = url.find('/');
    url = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
  }
  url = url.substr(0, url.find_first_of("?#"));
  return absl::AsciiStrToLower(ToAbsl(url));
}

}  // namespace

UpstreamOperation ClassifyUpstreamRequest(std::string_view method, std::string_view url) {
  const std::string path = PathOf(url);
  const absl::string_view p = path;
  const bool get = method == "GET";
  if (absl::StrContains(p, "/api/now/table/")) {
    return {"servicenow", get ? "table_read" : "table_write"};
  }
  if (absl::EndsWith(p, "/oauth_token.do")) return {"servicenow", "oauth_token"};
  if (absl::EndsWith(p, "/records/query")) return {"onspring", "records_query"};
  if (absl::EndsWith(p, "/records/batch-get")) return {"onspring", "records_get"};
  if (absl::StrContains(p, "/records/appid/")) {
    if (get) return {"onspring", "records_get"};
    if (method == "DELETE") return {"onspring", "records_delete"};
    return {"onspring", "other"};
  }
  if (absl::EndsWith(p, "/records")) {
    return {"onspring", method == "PUT" ? "records_save" : "other"};
  }
  if (absl::StrContains(p, "/fields/")) return {"onspring", "fields_read"};
  if (absl::StrContains(p, "/lists/id/")) return {"onspring", "list_add"};
  return {"other", "other"};
}

std::string UpstreamStatusLabel(const absl::StatusOr<HttpResponse>& result) {
  if (!result.ok()) return absl::StatusCodeToString(result.status().code());
  const int status = result->status;
  if (status < 100 || status > 599) return "other";
  return absl::StrCat(status / 100, "xx");
}

MeteredTransport::MeteredTransport(HttpTransport& inner, metrics::Registry& registry)
    : inner_(inner),
      requests_(registry.Counter(
          "upstream_requests_total",
          "Upstream HTTP attempts (each retry counts), by system, operation and status.",
          {"system", "operation", "status"})),
      durations_(registry.Histogram("upstream_request_duration_seconds",
                                    "Latency of upstream HTTP attempts, by system and operation.",
                                    {"system", "operation"})) {}

void MeteredTransport::Send(HttpRequest request, HttpCallback done) {
  const UpstreamOperation op = ClassifyUpstreamRequest(request.method, request.url);
  // The debug line of each attempt names the event's trace (from the request's traceparent).
  logging::LogContext log_context;
  if (logging::Enabled(logging::Level::kDebug)) {
    for (const auto& [name, value] : request.headers) {
      if (name == "traceparent") log_context.trace_id = TraceIdOf(value);
    }
  }
  const absl::Time start = absl::Now();
  inner_.Send(std::move(request), [requests = requests_, durations = durations_, op, start,
                                   log_context = std::move(log_context), done = std::move(done)](
                                      absl::StatusOr<HttpResponse> result) mutable {
    const absl::Duration took = absl::Now() - start;
    const std::string status = UpstreamStatusLabel(result);
    requests.With({op.system, op.operation, status}).Increment();
    durations.With({op.system, op.operation}).Observe(absl::ToDoubleSeconds(took));
    logging::Log(log_context, logging::Level::kDebug, "upstream {} {}: {} in {} ms", op.system,
                 op.operation, status, absl::ToInt64Milliseconds(took));
    std::move(done)(std::move(result));
  });
}

}  // namespace onsync::clients
