// The project's one retry policy, as pure logic (no I/O, no clock of its own): which results are
// retried, how long to wait before the next attempt, and the per-process retry budget.
// RetryingTransport applies it to every upstream call; job workers reuse Backoff/ParseRetryAfter
// for their own (much longer) rescheduling.
//
// Classification (IsRetryable):
//   - HTTP 429, 499, 502, 503, 504: retried for idempotent requests; for non-idempotent requests
//     only 429 (a rate limiter rejects before processing).
//   - Transport errors UNAVAILABLE and DEADLINE_EXCEEDED of an attempt (connect failure, reset,
//     TLS, DNS, per-attempt timeout): retried for idempotent requests; for non-idempotent
//     requests only when the error carries the "not sent" marker (MarkNotSent), which
//     CurlTransport sets only when the request certainly never left the process: could not
//     resolve the host or proxy, could not connect (refused, unreachable), connect timeout before
//     any byte of the request was written.
//   - Nothing else: never 400, 401, 403, 404 or any other HTTP status; never CANCELLED,
//     INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ... In particular 500 and 408 are not retried within
//     a call (a 500 is often deterministic); StatusFromHttp maps them to UNAVAILABLE, so job
//     workers retry them later with their own, longer backoff.
//
// Backoff: full jitter (AWS "Exponential Backoff and Jitter"): uniform in
// [0, min(max_backoff, initial_backoff * 2^retries_so_far)]; a Retry-After is a floor:
// delay = max(jittered backoff, Retry-After).
//
// Budget (gRFC A6 retry throttling; same defaults as userver's RetryBudget): a token bucket
// starting full at max_tokens = 100. Every attempt that fails in a retryable way (per
// IsRetryable with idempotent = true, i.e. "the upstream is struggling") costs 1 token; every
// successful (2xx) attempt refunds token_ratio = 0.1 token (capped at max_tokens); other results
// (e.g. 404) change nothing. Retries are allowed only while tokens > max_tokens / 2. So after a
// burst of ~50 failed attempts in a process the retries stop until ~10 successes per token have
// refilled the bucket, and a degraded upstream sees at most ~10% extra load from retries.
//
// Thread safety: the free functions are pure (the RNG passed in must not be used concurrently);
// RetryBudget is thread-safe.
#ifndef ONSYNC_CLIENTS_HTTP_RETRY_POLICY_H_
#define ONSYNC_CLIENTS_HTTP_RETRY_POLICY_H_

#include <mutex>
#include <optional>
#include <string_view>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"

namespace onsync::clients {

struct RetryOptions {
  // Attempts per call, the first one included (gRFC A6 maxAttempts). 1 disables retries.
  int max_attempts = 4;
  // Full-jitter ceiling for the first retry; doubles per retry up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Retry budget (gRFC A6 retryThrottling tokenRatio / maxTokens); see above.
  double budget_ratio = 0.1;
  double budget_max_tokens = 100;
  // An upstream asking (Retry-After) for a longer wait than this is not retried within the call:
  // the response is returned, so that a job can be rescheduled instead of holding the call.
  absl::Duration max_retry_after = absl::Seconds(30);
  // Deadline of one attempt, on top of the call's deadline (the earlier wins), so that a hung
  // attempt leaves time for another. Infinite: only the call's deadline applies.
  absl::Duration attempt_timeout = absl::InfiniteDuration();
};

// Retry-After values above this are clamped to it.
inline constexpr absl::Duration kMaxRetryAfter = absl::Hours(1);

// Whether an attempt's result should be retried (see the classification above).
bool IsRetryable(const absl::StatusOr<HttpResponse>& result, bool idempotent);

// HTTP statuses retried for idempotent requests: 429, 499, 502, 503, 504.
bool IsRetryableHttpStatus(int http_status);

// Marks a transport error as "the request certainly was not sent" (a payload; the code and
// message are unchanged), which makes it retryable even for non-idempotent requests.
absl::Status MarkNotSent(absl::Status status);
bool IsMarkedNotSent(const absl::Status& status);
inline constexpr std::string_view kNotSentPayloadUrl = "type.onsync.dev/onsync.request_not_sent";

// Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds (a non-negative integer)
// or an HTTP-date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT"; also the obsolete RFC 850
// "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994" forms). A date in the
// past gives zero. Empty, negative, fractional or malformed values give nullopt. The result is
// clamped to kMaxRetryAfter.
std::optional<absl::Duration> ParseRetryAfter(std::string_view value, absl::Time now);

// The Retry-After of a response (its "retry-after" header), or nullopt.
std::optional<absl::Duration> RetryAfterOf(const HttpResponse& response, absl::Time now);

// Delay before the next attempt: full jitter, uniform in
// [0, min(max_backoff, initial_backoff * 2^retries_so_far)] (retries_so_far = 0 before the
// first retry), and never less than `retry_after` when given.
absl::Duration Backoff(int retries_so_far, const RetryOptions& options, absl::BitGenRef rng,
                       std::optional<absl::Duration> retry_after = std::nullopt);

// The per-process retry throttle (gRFC A6); share one instance between the transports of a
// process (or of one upstream).
class RetryBudget {
 public:
  explicit RetryBudget(double max_tokens = 100, double token_ratio = 0.1);
  explicit RetryBudget(const RetryOptions& options)
      : RetryBudget(options.budget_max_tokens, options.budget_ratio) {}

  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  // A successful attempt: refunds token_ratio tokens.
  void RecordSuccess();
  // An attempt that failed in a retryable way: costs 1 token.
  void RecordFailure();
  // Whether a retry may be made now (tokens > max_tokens / 2). Does not consume tokens: the
  // failure that prompted the retry already paid.
  bool TryAcquireRetry() const;

  double tokens() const;

 private:
  const double max_tokens_;
  const double token_ratio_;
  mutable std::mutex mu_;  // std::mutex: visible to ThreadSanitizer (see redact.h)
  double tokens_;          // guarded by mu_
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_RETRY_POLICY_H_
