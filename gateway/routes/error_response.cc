#include "gateway/routes/error_response.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "common/retry_after.h"
#include "common/string_view.h"

namespace onsync::gateway {

int HttpStatusFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnknown:
      return 500;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kInternal:
      return 500;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDataLoss:
      return 500;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    default:
      return 500;
  }
}

http::Response ErrorResponse(int http_status, absl::StatusCode code, absl::string_view message) {
  http::Response response;
  response.status = http_status;
  response.body = absl::StrCat(R"({"code":)", static_cast<int>(code), R"(,"message":)",
                               JsonQuote(ToStd(message)), R"(,"details":[]})");
  if (code == absl::StatusCode::kUnauthenticated) {
    response.headers.emplace_back("WWW-Authenticate", R"(Basic realm="onsync")");
  }
  return response;
}

http::Response ErrorResponse(const absl::Status& status) {
  http::Response response =
      ErrorResponse(HttpStatusFromCode(status.code()), status.code(), status.message());
  if (const std::optional<absl::Duration> retry_after = RetryAfterFromStatus(status)) {
    response.headers.emplace_back("Retry-After", absl::StrCat(absl::ToInt64Seconds(*retry_after)));
  }
  return response;
}

}  // namespace onsync::gateway
