// The project's one conversion of an upstream HTTP status into absl::Status, for the clients
// (ServiceNow, Onspring). A transport reports any HTTP response as OK; a client decides which
// statuses are errors and converts them here, so that every upstream failure reaches the engine,
// the job workers and the gateway with the same codes.
//
// Table (ARCHITECTURE.md "Errors"; reliability.md §3):
//   2xx                    -> OK
//   400, 422               -> INVALID_ARGUMENT     (the request is wrong; do not retry)
//   401                    -> UNAUTHENTICATED
//   403                    -> PERMISSION_DENIED
//   404                    -> NOT_FOUND
//   408                    -> UNAVAILABLE          (the upstream timed out reading us: transient)
//   409                    -> ABORTED              (a conflict with concurrent state; the caller
//                                                   may re-read and retry at a higher level;
//                                                   ALREADY_EXISTS would presume a create)
//   429                    -> UNAVAILABLE          (rate limited; honour Retry-After)
//   499                    -> UNAVAILABLE          (client closed request, e.g. an upstream proxy
//                                                   gave up: transient, retryable, not a CANCELLED
//                                                   of ours)
//   other 4xx              -> FAILED_PRECONDITION
//   500, 502, 503, 504 and every other 5xx
//                          -> UNAVAILABLE          (an upstream fault; the per-call retry policy
//                                                   retries only 502/503/504 (and 429/499), but
//                                                   jobs retry UNAVAILABLE later, which is the
//                                                   right treatment for a 500 too)
//   1xx, 3xx               -> FAILED_PRECONDITION  (redirects are never followed: a 3xx means the
//                                                   configured URL is wrong)
//   anything else          -> UNKNOWN
// The message is "upstream answered HTTP <n>: <message>" (without ": <message>" when `message` is
// empty), passed through the redaction helper. Non-OK statuses carry the HTTP status as the
// payload kHttpStatusPayloadUrl (decimal text), and, when StatusFromHttpResponse saw a valid
// Retry-After, the delay in whole seconds as kRetryAfterPayloadUrl, for job rescheduling.
//
// Thread safety: pure functions (the redaction helper is thread-safe).
#ifndef ONSYNC_CLIENTS_HTTP_HTTP_STATUS_H_
#define ONSYNC_CLIENTS_HTTP_HTTP_STATUS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "common/retry_after.h"

namespace onsync::clients {

inline constexpr std::string_view kHttpStatusPayloadUrl = "type.onsync.dev/onsync.http_status";

// See the table above.
absl::Status StatusFromHttp(int http_status, std::string_view message);

// StatusFromHttp(response.status, SummarizeBody(response.body)), plus the Retry-After payload
// when the response carries a valid Retry-After header (evaluated against `now`).
absl::Status StatusFromHttpResponse(const HttpResponse& response, absl::Time now = absl::Now());

// The HTTP status a StatusFromHttp error carries, if any.
std::optional<int> HttpStatusOf(const absl::Status& status);

// The Retry-After delay (common/retry_after.h) a StatusFromHttpResponse error carries.
using ::onsync::kRetryAfterPayloadUrl;
using ::onsync::RetryAfterFromStatus;

// A short, printable, single-line rendering of an upstream (error) body for messages: markup
// tags, <script> and <style> contents are dropped and common entities decoded when the body
// looks like HTML/XML; control characters become spaces and runs of whitespace collapse to one;
// invalid UTF-8 bytes become '?'; a body that looks binary (NUL bytes or mostly non-text) becomes
// "(<n> bytes of binary data)"; an empty (or all-whitespace) body becomes "". The result is at
// most `max` bytes, plus "..." when cut (never in the middle of a UTF-8 sequence).
std::string SummarizeBody(std::string_view body, size_t max = 200);

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_HTTP_STATUS_H_
