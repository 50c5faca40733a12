#include "server/jobs/worker_pool.h"

#include <unistd.h>

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "clients/http/http_status.h"
#include "clients/http/retry_policy.h"
#include "common/logging.h"
#include "common/trace_context.h"
#include "spdlog/spdlog.h"

namespace onsync::jobs {
namespace {

// How long one wait for the store's notifications lasts at most (a notification ends it at once):
// Stop waits for it to end.
constexpr absl::Duration kNotificationWait = absl::Milliseconds(250);

std::string DefaultOwner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] != '\0' ? host : "onsync", ":", getpid());
}

}  // namespace

bool IsRetryableJobError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

// One attempt in progress: the AttemptContext its runner sees.
class WorkerPool::Attempt final : public AttemptContext {
 public:
  Attempt(WorkerPool& pool, std::string job_id) : pool_(pool), job_id_(std::move(job_id)) {}

  absl::Status SaveProgress(const v1::BatchProgress& progress) override {
    absl::Status saved = pool_.store_.SaveProgress(job_id_, pool_.owner(), progress);
    if (saved.code() == absl::StatusCode::kAborted) Cancel();
    return saved;
  }
  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  const std::string& job_id() const { return job_id_; }

 private:
  WorkerPool& pool_;
  const std::string job_id_;
  std::atomic<bool> cancelled_{false};
};

WorkerPool::WorkerPool(JobStore& store, JobRunner& runner, const clients::Clock& clock,
                       WorkerOptions options)
    : store_(store), runner_(runner), clock_(clock), options_(std::move(options)) {
  if (options_.owner.empty()) options_.owner = DefaultOwner();
  if (options_.workers < 1) options_.workers = 1;
}

WorkerPool::~WorkerPool() { Stop(absl::ZeroDuration()); }

void WorkerPool::Start() {
  for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  listener_ = std::thread([this] { NotificationLoop(); });
}

void WorkerPool::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  wake_.notify_all();
}

void WorkerPool::Stop(absl::Duration grace) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    wake_.notify_all();
    // Running attempts get `grace` to end on their own.
    wake_.wait_for(lock, absl::ToChronoNanoseconds(grace), [this] { return active_.empty(); });
    for (auto& [id, attempt] : active_) attempt->Cancel();
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  heartbeat_wake_.notify_all();
  threads_.clear();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (listener_.joinable()) listener_.join();
}

void WorkerPool::WorkerLoop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    absl::StatusOr<std::vector<v1::Job>> claimed =
        store_.ClaimNext(options_.owner, 1, options_.lease);
    if (!claimed.ok()) spdlog::warn("job store: cannot claim jobs: {}", claimed.status());
    if (claimed.ok() && !claimed->empty()) {
      RunOne(claimed->front());
      continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    const int seen = wakeups_;
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll_interval),
                   [&] { return stopping_ || wakeups_ != seen; });
  }
}

void WorkerPool::NotificationLoop() {
  bool down = false;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    absl::StatusOr<bool> woken = store_.WaitForWork(kNotificationWait);
    if (woken.status().code() == absl::StatusCode::kUnimplemented) return;  // workers poll
    if (woken.ok()) {
      if (down) spdlog::info("job store: notifications of new jobs are back");
      down = false;
      if (*woken) Wake();
      continue;
    }
    if (!down) {
      spdlog::warn("job store: no notifications of new jobs ({}); workers poll every {}",
                   woken.status(), absl::FormatDuration(options_.poll_interval));
    }
    down = true;
    // Try again after a poll interval; Stop ends the wait.
    std::unique_lock<std::mutex> lock(mu_);
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll_interval),
                   [this] { return stopping_; });
  }
}

void WorkerPool::RunOne(const v1::Job& job) {
  // Every line this attempt logs on this thread names the job and the trace of its request.
  const logging::LogContext log_context{.job_id = job.id(),
                                        .trace_id = TraceIdOf(job.traceparent())};
  const logging::ScopedLogContext scoped_log_context(log_context);
  Attempt attempt(*this, job.id());
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.emplace(job.id(), &attempt);
  }
  spdlog::info("job {} ({} {}): attempt {} of {}", job.id(), v1::JobKind_Name(job.kind()),
               job.profile(), job.attempts(), job.max_attempts());
  absl::StatusOr<v1::SyncResult> result = runner_.RunAttempt(job, attempt);
  bool stopping = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping = stopping_;
  }
  if (attempt.cancelled() && !result.ok()) {
    // Cancelled by CancelJob (the job is CANCELLED already) or stopped by Stop: the lease ends
    // and, after a stop, the job is claimed again by the next process.
    spdlog::info("job {}: attempt stopped: {}", job.id(), result.status());
  } else if (result.ok()) {
    absl::StatusOr<v1::Job> done = store_.Complete(job.id(), options_.owner, *result);
    if (!done.ok()) spdlog::warn("job {}: cannot record success: {}", job.id(), done.status());
  } else if (stopping && !IsRetryableJobError(result.status())) {
    spdlog::info("job {}: attempt ended by shutdown: {}", job.id(), result.status());
  } else {
    std::optional<absl::Time> retry_at;
    if (IsRetryableJobError(result.status())) {
      clients::RetryOptions policy;
      policy.initial_backoff = options_.initial_backoff;
      policy.max_backoff = options_.max_backoff;
      absl::BitGen rng;
      retry_at = clock_.Now() + clients::Backoff(std::max(0, job.attempts() - 1), policy, rng,
                                                 clients::RetryAfterFromStatus(result.status()));
    }
    absl::StatusOr<v1::Job> failed =
        store_.Fail(job.id(), options_.owner, result.status(), retry_at);
    if (!failed.ok()) {
      spdlog::warn("job {}: cannot record failure: {}", job.id(), failed.status());
    } else {
      spdlog::warn("job {}: attempt {} failed ({}): {}", job.id(), job.attempts(),
                   v1::JobState_Name(failed->state()), result.status());
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_.erase(job.id());
  }
  wake_.notify_all();
}

void WorkerPool::HeartbeatLoop() {
  const absl::Duration every = options_.lease / 3;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_ || !active_.empty()) {
    heartbeat_wake_.wait_for(lock, absl::ToChronoNanoseconds(every));
    std::vector<Attempt*> attempts;
    for (auto& [id, attempt] : active_) attempts.push_back(attempt);
    // The lock stays held: an attempt lives while it is listed in active_, and Heartbeat is a
    // short database write.
    for (Attempt* attempt : attempts) {
      absl::Status beat = store_.Heartbeat(attempt->job_id(), options_.owner, options_.lease);
      if (beat.code() == absl::StatusCode::kAborted) attempt->Cancel();
      if (!beat.ok() && beat.code() != absl::StatusCode::kAborted) {
        spdlog::warn("job {}: cannot extend its lease: {}", attempt->job_id(), beat);
      }
    }
    if (stopping_ && active_.empty()) return;
  }
}

}  // namespace onsync::jobs
