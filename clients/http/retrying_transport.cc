#include "clients/http/retrying_transport.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/http/redact.h"
#include "common/string_view.h"

namespace onsync::clients {

struct RetryingTransport::Call {
  HttpRequest request;
  HttpCallback done;
  int attempts = 0;  // attempts whose result came back
};

namespace {

uint64_t RandomSeed() {
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

}  // namespace

RetryingTransport::RetryingTransport(HttpTransport& inner, Scheduler& scheduler, const Clock& clock,
                                     RetryOptions options, std::shared_ptr<RetryBudget> budget,
                                     std::optional<uint64_t> rng_seed)
    : inner_(inner),
      scheduler_(scheduler),
      clock_(clock),
      options_(std::move(options)),
      budget_(budget != nullptr ? std::move(budget) : std::make_shared<RetryBudget>(options_)),
      rng_(rng_seed.has_value() ? *rng_seed : RandomSeed()) {}

void RetryingTransport::Send(HttpRequest request, HttpCallback done) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->done = std::move(done);
  StartAttempt(std::move(call));
}

void RetryingTransport::StartAttempt(std::shared_ptr<Call> call) {
  const bool last_possible_attempt = call->attempts + 1 >= options_.max_attempts;
  HttpRequest attempt;
  attempt.method = call->request.method;
  attempt.url = call->request.url;
  attempt.headers = call->request.headers;
  // The last possible attempt can take the body (the one possibly large part); earlier ones copy.
  attempt.body = last_possible_attempt ? std::move(call->request.body) : call->request.body;
  attempt.deadline = call->request.deadline;
  attempt.idempotent = call->request.idempotent;
  if (options_.attempt_timeout != absl::InfiniteDuration()) {
    attempt.deadline = std::min(attempt.deadline, clock_.Now() + options_.attempt_timeout);
  }
  inner_.Send(std::move(attempt), [this, call](absl::StatusOr<HttpResponse> result) mutable {
    OnAttemptDone(std::move(call), std::move(result));
  });
}

absl::Duration RetryingTransport::NextDelay(int retries_so_far,
                                            std::optional<absl::Duration> retry_after) {
  std::lock_guard lock(rng_mu_);
  return Backoff(retries_so_far, options_, rng_, retry_after);
}

void RetryingTransport::OnAttemptDone(std::shared_ptr<Call> call,
                                      absl::StatusOr<HttpResponse> result) {
  attempts_.fetch_add(1, std::memory_order_relaxed);
  ++call->attempts;

  // The budget measures the upstream's health, whatever the request's idempotency.
  if (result.ok() && result->status >= 200 && result->status <= 299) {
    budget_->RecordSuccess();
  } else if (IsRetryable(result, /*idempotent=*/true)) {
    budget_->RecordFailure();
  }

  const auto finish = [&call](absl::StatusOr<HttpResponse> final_result) {
    std::move(call->done)(std::move(final_result));
  };

  if (!IsRetryable(result, call->request.idempotent) || call->attempts >= options_.max_attempts) {
    return finish(std::move(result));
  }

  const absl::Time now = clock_.Now();
  std::optional<absl::Duration> retry_after;
  if (result.ok()) {
    retry_after = RetryAfterOf(*result, now);
    // The upstream wants a long pause: let the caller (a job) reschedule instead of holding on.
    if (retry_after.has_value() && *retry_after > options_.max_retry_after) {
      return finish(std::move(result));
    }
  }
  if (!budget_->TryAcquireRetry()) {
    budget_exhausted_.fetch_add(1, std::memory_order_relaxed);
    return finish(std::move(result));
  }

  const int retries_so_far = call->attempts - 1;
  const absl::Duration delay = NextDelay(retries_so_far, retry_after);
  if (now + delay >= call->request.deadline) {
    deadline_stops_.fetch_add(1, std::memory_order_relaxed);
    if (result.ok()) return finish(std::move(result));
    return finish(absl::DeadlineExceededError(absl::StrCat(
        "deadline would pass before the next attempt; gave up after ", call->attempts,
        call->attempts == 1 ? " attempt" : " attempts", " of ", call->request.method, " ",
        RedactUrl(call->request.url), "; last error: ", result.status().message())));
  }

  retries_.fetch_add(1, std::memory_order_relaxed);
  scheduler_.RunAfter(delay, [this, call = std::move(call)]() mutable {
    // A scheduler that shuts down runs its tasks early; the inner transport then answers
    // CANCELLED. A task that simply ran late past the deadline ends the call here.
    if (clock_.Now() >= call->request.deadline) {
      deadline_stops_.fetch_add(1, std::memory_order_relaxed);
      std::move(call->done)(absl::DeadlineExceededError(
          absl::StrCat("deadline passed while waiting to retry; gave up after ", call->attempts,
                       call->attempts == 1 ? " attempt" : " attempts", " of ", call->request.method,
                       " ", RedactUrl(call->request.url))));
      return;
    }
    StartAttempt(std::move(call));
  });
}

RetryStats RetryingTransport::stats() const {
  RetryStats stats;
  stats.calls = calls_.load(std::memory_order_relaxed);
  stats.attempts = attempts_.load(std::memory_order_relaxed);
  stats.retries = retries_.load(std::memory_order_relaxed);
  stats.budget_exhausted = budget_exhausted_.load(std::memory_order_relaxed);
  stats.deadline_stops = deadline_stops_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace onsync::clients
