// The gateway's one conversion of errors to HTTP: a status code by the grpc-gateway v2 / Envoy
// table and the body {"code": <google.rpc.Code>, "message": "...", "details": []}.
//
// Thread safety: pure functions.
#ifndef ONSYNC_GATEWAY_ROUTES_ERROR_RESPONSE_H_
#define ONSYNC_GATEWAY_ROUTES_ERROR_RESPONSE_H_

#include <string_view>

#include "absl/status/status.h"
#include "common/http_server.h"

namespace onsync::gateway {

// OK 200, CANCELLED 499, UNKNOWN 500, INVALID_ARGUMENT 400, DEADLINE_EXCEEDED 504,
// NOT_FOUND 404, ALREADY_EXISTS 409, PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429,
// FAILED_PRECONDITION 400, ABORTED 409, OUT_OF_RANGE 400, UNIMPLEMENTED 501, INTERNAL 500,
// UNAVAILABLE 503, DATA_LOSS 500, UNAUTHENTICATED 401.
int HttpStatusFromCode(absl::StatusCode code);

// An error response with the status from the table above, and a `Retry-After` header (whole
// seconds) when the status carries a retry hint (common/retry_after.h): the server's refusal at
// capacity, or an upstream's own Retry-After.
http::Response ErrorResponse(const absl::Status& status);

// An error response whose HTTP status is not the table's (405, 413, 415, 431, ...).
http::Response ErrorResponse(int http_status, absl::StatusCode code, absl::string_view message);

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_ERROR_RESPONSE_H_
