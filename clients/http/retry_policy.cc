#include "clients/http/retry_policy.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "common/string_view.h"

namespace onsync::clients {

bool IsRetryableHttpStatus(int http_status) {
  switch (http_status) {
    case 429:
    case 499:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

bool IsRetryable(const absl::StatusOr<HttpResponse>& result, bool idempotent) {
  if (result.ok()) {
    if (!IsRetryableHttpStatus(result->status)) return false;
    // A 429 is a rejection before processing: safe to repeat even a create.
    return idempotent || result->status == 429;
  }
  const absl::StatusCode code = result.status().code();
  if (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded) {
    return false;
  }
  return idempotent || IsMarkedNotSent(result.status());
}

absl::Status MarkNotSent(absl::Status status) {
  if (!status.ok()) status.SetPayload(ToAbsl(kNotSentPayloadUrl), absl::Cord("1"));
  return status;
}

bool IsMarkedNotSent(const absl::Status& status) {
  return status.GetPayload(ToAbsl(kNotSentPayloadUrl)).has_value();
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now) {
  const std::string_view trimmed = ToStd(absl::StripAsciiWhitespace(ToAbsl(value)));
  if (trimmed.empty()) return std::nullopt;
  if (std::all_of(trimmed.begin(), trimmed.end(),
                  [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    // delay-seconds; anything beyond the clamp (including absurdly long digit strings) clamps.
    int64_t seconds = 0;
    for (const char c : trimmed) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > absl::ToInt64Seconds(kMaxRetryAfter)) return kMaxRetryAfter;
    }
    return absl::Seconds(seconds);
  }
  // HTTP-date. absl::ParseTime wants the whole input consumed, which rejects trailing garbage.
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850 (obsolete)
      "%a %b %e %H:%M:%S %Y",       // asctime (obsolete)
  };
  const std::string input(trimmed);
  for (const char* format : kFormats) {
    absl::Time when;
    std::string error;
    if (absl::ParseTime(format, input, absl::UTCTimeZone(), &when, &error)) {
      const absl::Duration delay = when - now;
      if (delay <= absl::ZeroDuration()) return absl::ZeroDuration();
      return std::min(delay, kMaxRetryAfter);
    }
  }
  return std::nullopt;
}

std::optional<absl::Duration> RetryAfterOf(const HttpResponse& response, absl::Time now) {
  const std::optional<std::string_view> header = response.Header("retry-after");
  if (!header.has_value()) return std::nullopt;
  return ParseRetryAfter(*header, now);
}

absl::Duration Backoff(int retries_so_far, const RetryOptions& options, absl::BitGenRef rng,
                       std::optional<absl::Duration> retry_after) {
  const absl::Duration cap = std::max(options.max_backoff, absl::ZeroDuration());
  absl::Duration ceiling = std::min(std::max(options.initial_backoff, absl::ZeroDuration()), cap);
  // Doubling stops at the cap, so this neither overflows nor loops more than ~60 times.
  for (int i = 0; i < retries_so_far && ceiling < cap; ++i) {
    ceiling = std::min(ceiling * 2, cap);
  }
  absl::Duration delay = absl::ZeroDuration();
  if (ceiling > absl::ZeroDuration() && ceiling != absl::InfiniteDuration()) {
    const int64_t ceiling_us = absl::ToInt64Microseconds(ceiling);
    delay =
        absl::Microseconds(absl::Uniform(absl::IntervalClosedClosed, rng, int64_t{0}, ceiling_us));
  }
  if (retry_after.has_value()) delay = std::max(delay, *retry_after);
  return delay;
}

RetryBudget::RetryBudget(double max_tokens, double token_ratio)
    : max_tokens_(max_tokens), token_ratio_(token_ratio), tokens_(max_tokens) {}

void RetryBudget::RecordSuccess() {
  std::lock_guard lock(mu_);
  tokens_ = std::min(max_tokens_, tokens_ + token_ratio_);
}

void RetryBudget::RecordFailure() {
  std::lock_guard lock(mu_);
  tokens_ = std::max(0.0, tokens_ - 1);
}

bool RetryBudget::TryAcquireRetry() const {
  std::lock_guard lock(mu_);
  return tokens_ > max_tokens_ / 2;
}

double RetryBudget::tokens() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

}  // namespace onsync::clients
