// The PostgreSQL job store: durable jobs and batch watermarks in a PostgreSQL database that every
// onsync replica shares (`jobs.postgres` in the config). The tables live in the DSN's current
// schema (the first existing schema of its search_path), so one database can hold several
// independent stores.
//
// Replicas:
//   - Claims: ClaimNext locks due rows with SELECT ... FOR UPDATE SKIP LOCKED, so replicas that
//     claim at once skip each other's rows and never claim one job twice. A claim is a lease
//     (lease_until) that expires: the job of a replica that died is claimed again by another once
//     its lease ends. Leases are never released at start: ReleaseAllLeases exists (the contract
//     has it) but a server must not call it, since other replicas' workers may be alive.
//   - Create-once: Enqueue takes transaction-scoped advisory locks on the dedupe key and, for a
//     batch run, on the profile (Requeue of a batch run too), so that concurrent Enqueues on any
//     replicas store one job per key and one batch run per profile.
//   - Wake-ups: Enqueue, Requeue and ReleaseAllLeases send a NOTIFY on the channel
//     `onsync_jobs:<schema>` in their transaction (delivered at commit); WaitForWork LISTENs on a
//     connection of its own, so idle workers of every replica claim a new job within
//     milliseconds.
//   - Migrations: Open applies the missing versioned migrations, each in its own transaction under
//     an advisory lock, and records each in `schema_migrations`: replicas that start together
//     migrate once. A schema newer than kSchemaVersion (a rolled-back binary) is refused with
//     FAILED_PRECONDITION and left untouched; so is a schema that holds a `jobs` table of another
//     program.
//
// Data: jobs are stored as their onsync.v1.Job (bytea) plus the columns that ClaimNext, List and
// the dedupe and batch checks query, with indexes. Times are microseconds since the Unix epoch
// taken from the Clock given to Open, never the database's now(): every time in a Job is the
// Clock's time truncated to microseconds. Every statement that carries a value is parameterized
// (PQexecParams); text containing a NUL byte cannot be stored (INVALID_ARGUMENT).
//
// Connections: a pool of at most `pool_size` connections, opened when first needed (one at Open,
// which fails when the database cannot be reached), plus one for LISTEN. A connection that broke
// (the server restarted, its backend was terminated) is replaced on its next use; an operation
// whose connection turned out to be broken before it did anything runs again on a new connection,
// and fails with UNAVAILABLE only when no new connection can be made. An operation whose
// connection breaks midway is UNAVAILABLE (its transaction rolled back by the server; when the
// COMMIT itself was lost the outcome is unknown, as with any database: Enqueue with a dedupe key
// may be repeated safely).
//
// Errors: UNAVAILABLE for connection problems and transient server conditions (SQLSTATE classes
// 08 connection, 53 insufficient resources, 57 operator intervention, 40 rollback, 55P03 lock not
// available); INVALID_ARGUMENT for values the database refuses (class 22, e.g. a NUL byte);
// INTERNAL otherwise; DATA_LOSS for a stored job that does not parse. Messages carry the SQLSTATE
// and never the DSN (which may hold a password). Open: INVALID_ARGUMENT for a DSN that libpq
// cannot parse or a bad pool_size, UNAVAILABLE when the database cannot be reached,
// FAILED_PRECONDITION for a schema of a newer onsync or of another program, or no schema at all.
//
// Thread safety: thread-safe. Each call borrows a pool connection for its transaction and waits
// for one when all are busy. WaitForWork calls are serialized on the LISTEN connection (one
// waiter at a time is the intended use: WorkerPool's listener). The clock must outlive the store.
#ifndef ONSYNC_SERVER_JOBS_POSTGRES_JOB_STORE_H_
#define ONSYNC_SERVER_JOBS_POSTGRES_JOB_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"
#include "server/jobs/job_transitions.h"

namespace onsync::jobs {
namespace pg {
class Connection;
}  // namespace pg

struct PostgresJobStoreOptions {
  // A libpq connection string (`host=... dbname=...` or `postgresql://...`). A secret: it may hold
  // a password; it is never logged nor put in an error message.
  std::string dsn;
  // Connections for the store's calls (besides the one for LISTEN): 1..100.
  int pool_size = 8;
};

class PostgresJobStore final : public JobStore {
 public:
  // The schema version this build writes (the highest version in schema_migrations after Open).
  static constexpr int kSchemaVersion = 1;
  static constexpr int kMaxPoolSize = 100;

  // Connects, checks and migrates the schema, and starts listening for notifications.
  static absl::StatusOr<std::unique_ptr<PostgresJobStore>> Open(PostgresJobStoreOptions options,
                                                                const clients::Clock& clock);

  PostgresJobStore(const PostgresJobStore&) = delete;
  PostgresJobStore& operator=(const PostgresJobStore&) = delete;
  // Closes the connections. No call may be running.
  ~PostgresJobStore() override;

  absl::StatusOr<EnqueueResult> Enqueue(NewJob job) override;
  absl::StatusOr<onsync::v1::Job> Get(std::string_view id) override;
  absl::StatusOr<ListPage> List(const ListQuery& query) override;
  absl::StatusOr<std::vector<onsync::v1::Job>> ClaimNext(std::string_view owner, int max,
                                                         absl::Duration lease) override;
  absl::Status Heartbeat(std::string_view id, std::string_view owner,
                         absl::Duration lease) override;
  absl::Status SaveProgress(std::string_view id, std::string_view owner,
                            const onsync::v1::BatchProgress& progress) override;
  absl::StatusOr<onsync::v1::Job> Complete(std::string_view id, std::string_view owner,
                                           const onsync::v1::SyncResult& result) override;
  absl::StatusOr<onsync::v1::Job> Fail(std::string_view id, std::string_view owner,
                                       const absl::Status& error,
                                       std::optional<absl::Time> retry_at) override;
  absl::StatusOr<onsync::v1::Job> Requeue(std::string_view id) override;
  absl::StatusOr<onsync::v1::Job> Cancel(std::string_view id) override;
  // Makes every RUNNING job claimable now, including other replicas' live ones: for tests and
  // manual recovery only (see above).
  absl::Status ReleaseAllLeases() override;
  absl::StatusOr<std::optional<std::string>> GetWatermark(std::string_view profile) override;
  absl::Status SetWatermark(std::string_view profile, std::string_view watermark) override;
  absl::StatusOr<std::map<onsync::v1::JobState, int64_t>> CountByState() override;
  absl::StatusOr<QueueStats> Queue() override;
  // LISTEN on a connection of its own; reconnects it when it broke (and then returns true: the
  // notifications sent meanwhile are lost, so workers should look), UNAVAILABLE when it cannot.
  absl::StatusOr<bool> WaitForWork(absl::Duration max_wait) override;

  // The schema the tables live in, and the NOTIFY channel.
  const std::string& schema() const { return schema_; }
  const std::string& channel() const { return channel_; }

 private:
  using Connection = pg::Connection;
  struct Row;

  PostgresJobStore(PostgresJobStoreOptions options, const clients::Clock& clock);

  absl::Status Initialize();
  absl::Status Migrate();
  absl::Status Listen();

  // A pool connection for one operation (connected or replaced when needed), and its return.
  absl::StatusOr<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);
  // Runs `fn(Connection&)` on a pool connection, once more on a new connection when the first one
  // turned out to be broken before `fn` did anything.
  template <typename Fn>
  auto Run(Fn&& fn);
  // Run, inside BEGIN ... COMMIT (ROLLBACK when `fn` fails).
  template <typename Fn>
  auto InTransaction(Fn&& fn);

  absl::Time Now() const;
  std::string NewId(absl::Time now);
  // A transaction-scoped advisory lock on (`purpose`, `key`) within this store's schema.
  absl::Status LockKey(Connection& db, std::string_view purpose, std::string_view key);
  absl::Status Notify(Connection& db);
  absl::StatusOr<std::optional<Row>> Load(Connection& db, std::string_view id, bool for_update);
  absl::StatusOr<Row> LoadOrNotFound(Connection& db, std::string_view id, bool for_update);
  absl::StatusOr<Row> LoadLeased(Connection& db, std::string_view id, std::string_view owner);
  absl::Status Save(Connection& db, const Row& row);
  absl::StatusOr<onsync::v1::Job> SaveReleased(Connection& db, Row& row);
  absl::StatusOr<std::optional<std::string>> ActiveBatch(Connection& db, std::string_view profile,
                                                         std::string_view other_than);
  absl::StatusOr<std::vector<Row>> SelectClaimable(Connection& db, absl::Time now, int64_t limit);

  const PostgresJobStoreOptions options_;
  const clients::Clock& clock_;
  std::string schema_;   // set by Initialize
  std::string channel_;  // set by Initialize

  // The pool. std::mutex, not absl::Mutex: Debian's Abseil is invisible to ThreadSanitizer.
  std::mutex pool_mu_;
  std::condition_variable pool_released_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by pool_mu_
  int open_connections_ = 0;                       // guarded by pool_mu_; idle and borrowed

  std::mutex ids_mu_;
  internal::JobIdGenerator ids_;  // guarded by ids_mu_

  // The LISTEN connection; null after it broke, until WaitForWork reconnects it.
  std::timed_mutex listen_mu_;
  std::unique_ptr<Connection> listener_;  // guarded by listen_mu_
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_POSTGRES_JOB_STORE_H_
