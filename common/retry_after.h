// The "retry after" hint an absl::Status carries across onsync: a payload holding the delay in
// whole seconds. Set by the HTTP clients from an upstream's Retry-After and by the server when it
// refuses work at capacity; read by the job workers (to reschedule), by ToGrpcStatus (to send a
// google.rpc.RetryInfo) and by the gateway (to answer with a Retry-After header).
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_RETRY_AFTER_H_
#define ONSYNC_COMMON_RETRY_AFTER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace onsync {

inline constexpr std::string_view kRetryAfterPayloadUrl = "type.onsync.dev/onsync.retry_after_s";

// `status` with the hint set to `delay`, rounded up to whole seconds (negative delays become 0).
// An OK status is returned unchanged.
inline absl::Status WithRetryAfter(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  const int64_t seconds =
      delay <= absl::ZeroDuration() ? 0 : absl::ToInt64Seconds(absl::Ceil(delay, absl::Seconds(1)));
  status.SetPayload(absl::string_view(kRetryAfterPayloadUrl.data(), kRetryAfterPayloadUrl.size()),
                    absl::Cord(absl::StrCat(seconds)));
  return status;
}

// The hint `status` carries, if any (a malformed or negative payload counts as none).
inline std::optional<absl::Duration> RetryAfterFromStatus(const absl::Status& status) {
  const auto payload = status.GetPayload(
      absl::string_view(kRetryAfterPayloadUrl.data(), kRetryAfterPayloadUrl.size()));
  if (!payload.has_value()) return std::nullopt;
  int64_t seconds = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &seconds) || seconds < 0) return std::nullopt;
  return absl::Seconds(seconds);
}

}  // namespace onsync

#endif  // ONSYNC_COMMON_RETRY_AFTER_H_
