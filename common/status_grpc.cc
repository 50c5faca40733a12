#include "common/status_grpc.h"

#include <cstdint>
#include <optional>
#include <string>

#include "common/retry_after.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace onsync {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  const std::optional<absl::Duration> retry_after = RetryAfterFromStatus(status);
  if (!retry_after.has_value()) return grpc::Status(code, std::move(message));

  google::rpc::RetryInfo retry_info;
  retry_info.mutable_retry_delay()->set_seconds(absl::ToInt64Seconds(*retry_after));
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(status.code()));
  details.set_message(message);
  details.add_details()->PackFrom(retry_info);
  return grpc::Status(code, std::move(message), details.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  // Codes outside google.rpc.Code (never sent by a conforming peer) become UNKNOWN.
  const auto absl_code = (code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated))
                             ? static_cast<absl::StatusCode>(code)
                             : absl::StatusCode::kUnknown;
  absl::Status converted(absl_code, status.error_message());
  if (status.error_details().empty()) return converted;

  // Details that do not parse, or a delay out of range, are ignored: the code and message stand.
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return converted;
  for (const google::protobuf::Any& detail : details.details()) {
    google::rpc::RetryInfo retry_info;
    if (!detail.UnpackTo(&retry_info)) continue;
    const int64_t seconds = retry_info.retry_delay().seconds();
    if (seconds < 0 || seconds > absl::ToInt64Seconds(absl::Hours(24))) continue;
    converted = WithRetryAfter(
        std::move(converted),
        absl::Seconds(seconds) + absl::Nanoseconds(retry_info.retry_delay().nanos()));
    break;
  }
  return converted;
}

}  // namespace onsync
