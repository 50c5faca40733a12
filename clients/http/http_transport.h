// The seam for every upstream HTTP call: an asynchronous request/response interface.
//
// Production uses CurlTransport (libcurl multi, one event loop) wrapped in RetryingTransport
// (the project's one retry policy); tests substitute fakes. A transport reports an HTTP response
// of any status as OK (the status is in the response); only failures to get a response are
// errors: UNAVAILABLE (connect, reset, TLS, DNS), DEADLINE_EXCEEDED (the request's deadline
// passed), CANCELLED (the transport is shutting down), INVALID_ARGUMENT (a malformed request).
// Converting HTTP statuses into Status is the clients' job (http_status.h), not the transport's.
//
// Thread safety: Send may be called from any thread, concurrently. `done` is called exactly once,
// on a transport thread, never inline from Send; it must not block.
#ifndef ONSYNC_CLIENTS_HTTP_HTTP_TRANSPORT_H_
#define ONSYNC_CLIENTS_HTTP_HTTP_TRANSPORT_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::clients {

struct HttpRequest {
  // GET, POST, PUT, PATCH, DELETE.
  std::string method = "GET";
  // Absolute http(s) URL; query already encoded.
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The whole call, all attempts included.
  absl::Time deadline = absl::InfiniteFuture();
  // False for requests that must not run twice (e.g. a create): they are retried only when the
  // request certainly was not processed (connection refused, 429).
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  // Names lower-cased, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // First value of the header `name` (case-insensitive).
  std::optional<std::string_view> Header(std::string_view name) const;
};

// What an upstream call carries besides its payload: when to give up, and the event's W3C trace
// context. A deadline alone is a complete CallOptions (no trace), hence the implicit constructor.
struct CallOptions {
  CallOptions() = default;
  CallOptions(absl::Time deadline) : deadline(deadline) {}  // NOLINT(google-explicit-constructor)
  CallOptions(absl::Time deadline, std::string traceparent)
      : deadline(deadline), traceparent(std::move(traceparent)) {}

  // For the whole call (every request and attempt of it).
  absl::Time deadline = absl::InfiniteFuture();
  // Sent as the `traceparent` header on every request of the call; empty for none.
  std::string traceparent;

  // Sets `request`'s deadline and adds the traceparent header when there is one.
  void ApplyTo(HttpRequest& request) const;
};

using HttpCallback = absl::AnyInvocable<void(absl::StatusOr<HttpResponse>) &&>;

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual void Send(HttpRequest request, HttpCallback done) = 0;
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_HTTP_TRANSPORT_H_
