// RetryingTransport: the decorator that applies the project's one retry policy (retry_policy.h)
// to every upstream call. Retries happen here and nowhere else in the request path (AWS Builders'
// Library: retry at one layer only); clients see one result per call.
//
// Per call:
//   - up to options.max_attempts attempts; each attempt is sent with the call's deadline (or an
//     earlier per-attempt deadline when options.attempt_timeout is finite);
//   - a result is retried only if IsRetryable(result, request.idempotent) says so;
//   - between attempts it waits Backoff(...) (full jitter, Retry-After as a floor) via the
//     Scheduler, never blocking a thread;
//   - the caller's deadline always wins: an attempt whose start would be at or after the deadline
//     is never scheduled. Then the call ends with the last result if that was an HTTP response
//     (e.g. the last 503, so the caller sees the upstream's answer), or with DEADLINE_EXCEEDED
//     naming the attempts made if it was a transport error;
//   - the shared RetryBudget can stop retries (the last result is returned), as can a
//     Retry-After longer than options.max_retry_after (the response is returned);
//   - when the attempt cap is reached, the last result is returned unchanged.
//
// Thread safety: Send may be called concurrently from any thread. `done` runs exactly once, on a
// thread of the inner transport or of the scheduler, never inline from Send (given that the inner
// transport and the scheduler keep that promise). The inner transport, scheduler and clock must
// outlive every call in progress (shut the scheduler/transport down before destroying this).
#ifndef ONSYNC_CLIENTS_HTTP_RETRYING_TRANSPORT_H_
#define ONSYNC_CLIENTS_HTTP_RETRYING_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "absl/status/statusor.h"
#include "clients/http/http_transport.h"
#include "clients/http/retry_policy.h"
#include "clients/http/scheduler.h"

namespace onsync::clients {

// Counters since construction, for metrics. A snapshot; each field is read atomically.
struct RetryStats {
  int64_t calls = 0;             // Send calls
  int64_t attempts = 0;          // attempts whose result came back (first attempts included)
  int64_t retries = 0;           // retries scheduled
  int64_t budget_exhausted = 0;  // retries refused by the RetryBudget
  int64_t deadline_stops = 0;    // retries not scheduled because the deadline would pass
};

class RetryingTransport final : public HttpTransport {
 public:
  // `inner`, `scheduler` and `clock` are not owned. `budget` may be shared between transports;
  // null creates a private one from `options`. `rng_seed` makes the jitter reproducible (tests);
  // by default the generator is seeded randomly.
  RetryingTransport(HttpTransport& inner, Scheduler& scheduler, const Clock& clock,
                    RetryOptions options = {}, std::shared_ptr<RetryBudget> budget = nullptr,
                    std::optional<uint64_t> rng_seed = std::nullopt);
  ~RetryingTransport() override = default;

  RetryingTransport(const RetryingTransport&) = delete;
  RetryingTransport& operator=(const RetryingTransport&) = delete;

  void Send(HttpRequest request, HttpCallback done) override;

  RetryStats stats() const;
  const std::shared_ptr<RetryBudget>& budget() const { return budget_; }

 private:
  struct Call;

  void StartAttempt(std::shared_ptr<Call> call);
  void OnAttemptDone(std::shared_ptr<Call> call, absl::StatusOr<HttpResponse> result);
  absl::Duration NextDelay(int retries_so_far, std::optional<absl::Duration> retry_after);

  HttpTransport& inner_;
  Scheduler& scheduler_;
  const Clock& clock_;
  const RetryOptions options_;
  const std::shared_ptr<RetryBudget> budget_;

  std::mutex rng_mu_;    // std::mutex: visible to ThreadSanitizer (see redact.h)
  std::mt19937_64 rng_;  // guarded by rng_mu_

  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> attempts_{0};
  std::atomic<int64_t> retries_{0};
  std::atomic<int64_t> budget_exhausted_{0};
  std::atomic<int64_t> deadline_stops_{0};
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_RETRYING_TRANSPORT_H_
