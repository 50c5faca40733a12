// What every route that calls onsync-server shares: the deadline rules of a call, the request
// headers that travel with it as metadata, and the JSON Content-Type check.
//
// Deadline: the `grpc-timeout` header (gRPC wire syntax, e.g. `5S`, `200m`) clamped to
// `max_deadline`, else `default_deadline`. `x-request-id` and `traceparent` travel as metadata.
//
// Thread safety: pure functions; ConfigureCallContext touches only the context it is given.
#ifndef ONSYNC_GATEWAY_ROUTES_CALL_CONTEXT_H_
#define ONSYNC_GATEWAY_ROUTES_CALL_CONTEXT_H_

#include <grpcpp/client_context.h>

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_server.h"

namespace onsync::gateway {

struct RpcDeadlines {
  absl::Duration default_deadline = absl::Seconds(25);
  absl::Duration max_deadline = absl::Seconds(120);
};

// Parses a `grpc-timeout` header value: 1 to 8 digits and a unit (H, M, S, m, u, n).
absl::StatusOr<absl::Duration> ParseGrpcTimeout(std::string_view value);

// True when the Content-Type's media type is application/json (parameters ignored).
bool IsJsonContentType(std::string_view content_type);

// Sets the deadline of `context` by the rules above and copies `x-request-id` and `traceparent`
// from `request` into its metadata. Errors: a malformed `grpc-timeout` -> INVALID_ARGUMENT
// (naming the header), with `context` left untouched.
absl::Status ConfigureCallContext(const http::Request& request, const RpcDeadlines& deadlines,
                                  grpc::ClientContext& context);

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_CALL_CONTEXT_H_
