// The SQLite job store: durable jobs and batch watermarks in one local file, the embedded default
// store of a single onsync process (`jobs.sqlite.path` in the config).
//
// The file is opened in WAL mode with synchronous=FULL (a change is on disk before the method that
// made it returns) and locking_mode=EXCLUSIVE: the store holds the file's lock from Open until it
// is destroyed, so one process, and one store in it, uses a file at a time. A second Open of the
// file, from another process or the same one, waits up to 2 s (a restart whose predecessor is
// still exiting) and then fails with FAILED_PRECONDITION "... is in use by another process". That
// is what makes ReleaseAllLeases at start safe: no worker of an earlier process can be alive. It
// also means that no other program (the sqlite3 shell, a backup tool) can read the file while the
// server runs. The file, when Open creates it, is readable by its owner only (0600).
//
// Schema: versioned migrations, applied at Open in order, each in its own transaction; PRAGMA
// user_version counts those applied. A file written by a newer onsync (a higher version than
// kSchemaVersion) is refused with FAILED_PRECONDITION, so a rollback of the binary never damages
// it. Jobs are stored as their onsync.v1.Job (binary) plus the columns ClaimNext, List and the
// dedupe and batch checks query, each with an index; times are microseconds since the Unix epoch,
// and every time in a Job is the Clock's time truncated to microseconds.
//
// Errors: SQLite's errors are UNAVAILABLE with SQLite's message (the disk is full, the file cannot
// be written), except a row that does not parse, which is DATA_LOSS. Open fails with UNAVAILABLE
// when the file cannot be opened or is not a database, and with FAILED_PRECONDITION for a file in
// use, of a newer schema, or of another program (PRAGMA application_id, or tables of its own).
//
// Thread safety: thread-safe. One connection, guarded by a mutex: calls run one at a time, each a
// short transaction (BEGIN IMMEDIATE ... COMMIT, with an fsync for a change). The clock must
// outlive the store.
#ifndef ONSYNC_SERVER_JOBS_SQLITE_JOB_STORE_H_
#define ONSYNC_SERVER_JOBS_SQLITE_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"
#include "server/jobs/job_transitions.h"

struct sqlite3;
struct sqlite3_stmt;

namespace onsync::jobs {

class SqliteJobStore final : public JobStore {
 public:
  // The schema version this build writes (PRAGMA user_version after Open).
  static constexpr int kSchemaVersion = 1;

  // Opens the database at `path`, creating it (and its schema) if needed. ":memory:" is a private
  // in-memory database (for tests; nothing is durable). The directory must exist.
  static absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open(std::string path,
                                                              const clients::Clock& clock);

  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;
  // Closes the database and lets go of the file's lock.
  ~SqliteJobStore() override;

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
  absl::Status ReleaseAllLeases() override;
  absl::StatusOr<std::optional<std::string>> GetWatermark(std::string_view profile) override;
  absl::Status SetWatermark(std::string_view profile, std::string_view watermark) override;
  absl::StatusOr<std::map<onsync::v1::JobState, int64_t>> CountByState() override;
  absl::StatusOr<QueueStats> Queue() override;

  const std::string& path() const { return path_; }

 private:
  class Statement;
  struct Row;

  SqliteJobStore(std::string path, const clients::Clock& clock, sqlite3* db);

  // Each of these requires mu_.
  absl::Status Initialize();
  absl::Status Migrate();
  absl::StatusOr<Statement> Prepare(const std::string& sql);
  absl::Status Exec(const char* sql);
  template <typename Fn>
  auto InTransaction(Fn&& fn) -> decltype(fn());
  absl::Time Now() const;
  absl::StatusOr<std::optional<Row>> Load(std::string_view id);
  absl::StatusOr<Row> LoadOrNotFound(std::string_view id);
  absl::StatusOr<Row> LoadLeased(std::string_view id, std::string_view owner);
  absl::Status Save(const Row& row);
  // Releases the row's lease, saves it and hands back its job.
  absl::StatusOr<onsync::v1::Job> SaveReleased(Row& row);
  absl::StatusOr<std::optional<std::string>> ActiveBatch(std::string_view profile,
                                                         std::string_view other_than);

  const std::string path_;
  const clients::Clock& clock_;
  // A std::mutex, not absl::Mutex: Debian's Abseil is invisible to ThreadSanitizer.
  std::mutex mu_;
  sqlite3* db_;                                                // guarded by mu_
  std::unordered_map<std::string, sqlite3_stmt*> statements_;  // guarded by mu_; by SQL text
  internal::JobIdGenerator ids_;                               // guarded by mu_
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_SQLITE_JOB_STORE_H_
