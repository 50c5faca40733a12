// The durable job store: the only record of an accepted asynchronous event or batch run. Every
// implementation (SQLite, the embedded default; PostgreSQL for many replicas) passes the same
// contract tests (tests/server/jobs/job_store_contract_test.cc).
//
// Life of a job (JobState in job.proto):
//   Enqueue -> QUEUED (next_attempt_time = now)
//   ClaimNext -> RUNNING (attempts + 1, leased to one owner until lease_until)
//   Complete -> SUCCEEDED | Fail -> FAILED (retry at next_attempt_time) or DEAD (attempts reached
//   max_attempts; stays listed) | Cancel -> CANCELLED | Requeue (DEAD, FAILED) -> QUEUED
//   A RUNNING job whose lease expired (its worker died) is claimable again, as if QUEUED.
//
// Contracts:
//   - Durability: a method that changes state returns only after the change is committed (the
//     SQLite store runs with synchronous=FULL): a 202 sent after Enqueue is never lost.
//   - Dedupe: Enqueue with a `dedupe_key` that an existing job of the last `dedupe_window` holds
//     (the newest such job, whatever its state) returns that job (deduplicated = true) and stores
//     nothing; two concurrent Enqueues of one key store one job. Keys are global (across profiles
//     and kinds): callers put the profile in the key when it matters. The dedupe check comes
//     before the batch rule below, so a retried batch request returns its job.
//   - One batch run per profile: Enqueue of a JOB_KIND_BATCH job while another batch job of that
//     profile is QUEUED, RUNNING or FAILED is ALREADY_EXISTS naming the running job.
//   - Leases: every call that acts for a worker (Heartbeat, SaveProgress, Complete, Fail) names
//     the owner; when the lease is no longer that owner's (expired and claimed by another, or the
//     job was cancelled or ended), it is ABORTED and changes nothing, so a worker that lost its job
//     stops. A lease that expired but that nobody claimed yet is still the owner's. Owners should
//     be unique per worker and process (e.g. host, pid and a random part).
//   - Time comes from the Clock given to the implementation; ids are unique, and sort by creation
//     time (`j_` + 26 characters).
//   - Errors: NOT_FOUND (unknown id), FAILED_PRECONDITION (a transition the state does not allow,
//     e.g. Requeue of a SUCCEEDED job), UNAVAILABLE (the database cannot be read or written; the
//     caller answers 503), INVALID_ARGUMENT (a malformed page token, query or job: no profile, no
//     kind, negative max_attempts, text that is not UTF-8).
//
// Thread safety: implementations are thread-safe; every method may block on the database (call
// them from worker threads or briefly from RPC handlers, never while holding a lock of your own).
#ifndef ONSYNC_SERVER_JOBS_JOB_STORE_H_
#define ONSYNC_SERVER_JOBS_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "onsync/v1/job.pb.h"

namespace onsync::jobs {

struct NewJob {
  // profile, kind, mode, traceparent, trigger (events) or batch (batch runs), max_attempts (0: 8).
  // The store assigns id, state, attempts, the times and dedupe_key (from below), and ignores the
  // other fields.
  onsync::v1::Job job = {};
  // Empty (or a dedupe_window <= 0): no deduplication.
  std::string dedupe_key = {};
  absl::Duration dedupe_window = absl::Hours(24);
};

struct EnqueueResult {
  onsync::v1::Job job;
  // True when an existing job with the same dedupe key was returned.
  bool deduplicated = false;
};

struct ListQuery {
  // Empty: every state. JOB_STATE_UNSPECIFIED or an unknown value is INVALID_ARGUMENT.
  std::vector<onsync::v1::JobState> states = {};
  // Empty: every profile.
  std::string profile = {};
  std::optional<absl::Time> created_after = std::nullopt;   // inclusive
  std::optional<absl::Time> created_before = std::nullopt;  // exclusive
  // 1..500; 0 means 50. Anything else is INVALID_ARGUMENT.
  int page_size = 50;
  // From ListPage::next_page_token (of a query with the same filters); empty for the first page.
  // A token that the store did not make is INVALID_ARGUMENT.
  std::string page_token = {};
};

struct ListPage {
  // Newest first (create_time, then id, descending). Jobs created after the first page was read
  // do not appear on later pages.
  std::vector<onsync::v1::Job> jobs;
  // Empty on the last page.
  std::string next_page_token;
};

// Jobs waiting for a worker now (for metrics).
struct QueueStats {
  // QUEUED and FAILED jobs whose next_attempt_time has come.
  int64_t depth = 0;
  // The earliest next_attempt_time among them (how long the longest-waiting job has been due);
  // nullopt when depth is 0.
  std::optional<absl::Time> oldest_due = std::nullopt;
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  virtual absl::StatusOr<EnqueueResult> Enqueue(NewJob job) = 0;

  virtual absl::StatusOr<onsync::v1::Job> Get(std::string_view id) = 0;

  virtual absl::StatusOr<ListPage> List(const ListQuery& query) = 0;

  // Claims up to `max` jobs, oldest next_attempt_time first (then oldest create_time): QUEUED or
  // FAILED ones that are due, and RUNNING ones whose lease expired (lease_until <= now). Each
  // becomes RUNNING for `owner` until now + `lease`, with attempts + 1 and start_time set on its
  // first claim. A RUNNING job whose lease expired on its last attempt (attempts >= max_attempts)
  // is not claimed again but becomes DEAD (last_error ABORTED), so that a job that kills its worker
  // every time ends. INVALID_ARGUMENT for an empty owner, max < 1 or lease <= 0.
  virtual absl::StatusOr<std::vector<onsync::v1::Job>> ClaimNext(std::string_view owner, int max,
                                                                 absl::Duration lease) = 0;

  // Extends the lease to now + `lease`.
  virtual absl::Status Heartbeat(std::string_view id, std::string_view owner,
                                 absl::Duration lease) = 0;

  // Stores a batch run's progress (its checkpoint) under the lease.
  virtual absl::Status SaveProgress(std::string_view id, std::string_view owner,
                                    const onsync::v1::BatchProgress& progress) = 0;

  // SUCCEEDED, with the result (events) and end_time.
  virtual absl::StatusOr<onsync::v1::Job> Complete(std::string_view id, std::string_view owner,
                                                   const onsync::v1::SyncResult& result) = 0;

  // Records `error` as last_error (its message made valid UTF-8 and cut to a few KiB); DEAD (with
  // end_time) when attempts >= max_attempts or `retry_at` is nullopt (a permanent error), else
  // FAILED with next_attempt_time = retry_at. An OK `error` is INVALID_ARGUMENT.
  virtual absl::StatusOr<onsync::v1::Job> Fail(std::string_view id, std::string_view owner,
                                               const absl::Status& error,
                                               std::optional<absl::Time> retry_at) = 0;

  // DEAD or FAILED -> QUEUED now, attempts 0, last_error kept (start_time too: it stays the first
  // claim's). FAILED_PRECONDITION otherwise; ALREADY_EXISTS for a batch run while another batch
  // run of its profile is QUEUED, RUNNING or FAILED.
  virtual absl::StatusOr<onsync::v1::Job> Requeue(std::string_view id) = 0;

  // QUEUED, FAILED or RUNNING -> CANCELLED (end_time set; a running worker's next lease call is
  // ABORTED). FAILED_PRECONDITION for a job that already ended (SUCCEEDED, DEAD, CANCELLED).
  virtual absl::StatusOr<onsync::v1::Job> Cancel(std::string_view id) = 0;

  // Makes every RUNNING job claimable at once (their leases end now). For a store that only one
  // process can open (SQLite), the server calls it at start: no earlier worker can be alive. Never
  // for a store that several processes share (PostgreSQL): it would hand live workers' jobs to
  // others; there, leases expire instead.
  virtual absl::Status ReleaseAllLeases() = 0;

  // The `sys_updated_on` watermark of a profile's last successful batch run, if any.
  virtual absl::StatusOr<std::optional<std::string>> GetWatermark(std::string_view profile) = 0;
  virtual absl::Status SetWatermark(std::string_view profile, std::string_view watermark) = 0;

  // The number of jobs in each state (states without jobs are absent), in one cheap query (for
  // metrics, read at scrape time).
  virtual absl::StatusOr<std::map<onsync::v1::JobState, int64_t>> CountByState() = 0;

  // The jobs due now (see QueueStats), in one cheap query.
  virtual absl::StatusOr<QueueStats> Queue() = 0;

  // Optional wake-up for idle workers. Blocks until a job may have become claimable because some
  // process (this one or another replica) enqueued or requeued one, or until `max_wait` (real
  // time, not the store's Clock) passed. Returns true when woken (a wake-up may be spurious: the
  // caller claims and may find nothing), false when `max_wait` passed. Jobs that come due by time
  // (a retry's next_attempt_time, an expired lease) send no wake-up: callers still poll ClaimNext.
  //   UNIMPLEMENTED: the store has no notifications (the default; SQLite, whose only writer is this
  //     process). Callers poll.
  //   UNAVAILABLE: notifications are down for now (the database cannot be reached); callers poll
  //     and call again later.
  virtual absl::StatusOr<bool> WaitForWork(absl::Duration max_wait) {
    return absl::UnimplementedError("this job store sends no notifications of new jobs");
  }
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_JOB_STORE_H_
