// Workers of durable jobs: a fixed number of threads that claim jobs from the JobStore under a
// lease, run one attempt each through a JobRunner, and record the outcome.
//
// Contracts:
//   - Concurrency: at most `workers` attempts run at once in this process. Each worker is a thread
//     of its own that waits on its job (never a transport or gRPC thread).
//   - Leases: a claimed job is leased for `lease`; a heartbeat thread extends every active lease
//     every lease/3. A worker that dies (or a process killed with -9) stops extending, so the job
//     is claimable again when the lease ends (at once after a restart with SQLite, whose server
//     calls ReleaseAllLeases). When a lease call is ABORTED (the job was cancelled or taken over)
//     the attempt is told to stop (AttemptContext::cancelled) and its outcome is dropped.
//   - Outcomes: success -> Complete. A retryable error (UNAVAILABLE, DEADLINE_EXCEEDED,
//     RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN) -> Fail with a retry time from the one retry
//     policy's Backoff (exponential, full jitter, from `initial_backoff` up to `max_backoff`, and
//     never sooner than an upstream's Retry-After carried by the status); the store makes it DEAD
//     at max_attempts. Any other error is permanent -> DEAD at once (RetryJob requeues it).
//   - Wake() makes idle workers claim at once (after an enqueue); otherwise they poll every
//     `poll_interval`. With a store that sends notifications (JobStore::WaitForWork: PostgreSQL's
//     LISTEN/NOTIFY), a listener thread calls Wake() whenever any process, this one or another
//     replica, enqueued or requeued a job, so idle workers claim it within milliseconds.
//
// Thread safety: Start, Wake and Stop may be called from any thread; Stop once.
#ifndef ONSYNC_SERVER_JOBS_WORKER_POOL_H_
#define ONSYNC_SERVER_JOBS_WORKER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"

namespace onsync::jobs {

// What one attempt may do besides running: checkpoint a batch run and notice cancellation.
class AttemptContext {
 public:
  virtual ~AttemptContext() = default;
  // Stores the batch run's progress under the attempt's lease (ABORTED when the lease is lost).
  virtual absl::Status SaveProgress(const onsync::v1::BatchProgress& progress) = 0;
  // True once the job was cancelled or its lease lost: stop before the next write.
  virtual bool cancelled() const = 0;
};

// Runs one attempt of a job on the calling worker thread (blocking until it ends).
class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual absl::StatusOr<onsync::v1::SyncResult> RunAttempt(const onsync::v1::Job& job,
                                                            AttemptContext& context) = 0;
};

struct WorkerOptions {
  int workers = 8;
  absl::Duration lease = absl::Seconds(30);
  absl::Duration poll_interval = absl::Milliseconds(250);
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Minutes(5);
  // Names this process's leases; default "<hostname>:<pid>".
  std::string owner;
};

// True for the codes worth another attempt (see above).
bool IsRetryableJobError(const absl::Status& status);

class WorkerPool {
 public:
  // `store`, `runner` and `clock` must outlive the pool.
  WorkerPool(JobStore& store, JobRunner& runner, const clients::Clock& clock,
             WorkerOptions options);
  ~WorkerPool();  // Stop(ZeroDuration) if still running.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Start();
  void Wake();
  // Stops claiming and waits up to `grace` for running attempts; attempts still running are then
  // told to stop (cancelled()) and waited for, and their jobs' leases left to expire.
  void Stop(absl::Duration grace);

  const std::string& owner() const { return options_.owner; }

 private:
  class Attempt;

  void WorkerLoop();
  void HeartbeatLoop();
  // Waits for the store's notifications and wakes the workers; returns at once for a store
  // without notifications.
  void NotificationLoop();
  void RunOne(const onsync::v1::Job& job);

  JobStore& store_;
  JobRunner& runner_;
  const clients::Clock& clock_;
  WorkerOptions options_;

  std::mutex mu_;
  std::condition_variable wake_;            // workers: work to claim, or stop
  std::condition_variable heartbeat_wake_;  // the heartbeat thread: stop
  bool stopping_ = false;                   // guarded by mu_
  int wakeups_ = 0;                         // guarded by mu_
  std::map<std::string, Attempt*> active_;  // guarded by mu_; job id -> attempt
  std::vector<std::thread> threads_;
  std::thread heartbeat_;
  std::thread listener_;
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_WORKER_POOL_H_
