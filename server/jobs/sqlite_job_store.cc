#include "server/jobs/sqlite_job_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/jobs/job_transitions.h"

namespace onsync::jobs {
namespace {

using internal::AsAbsl;
using internal::Micros;
using internal::MicrosOf;
using internal::ParseJob;
using internal::Serialize;
using internal::StateName;
using ::onsync::v1::Job;
using ::onsync::v1::JobState;

// How long Open waits for another process to let go of the file (a restart whose predecessor is
// still exiting). The store's own connection never waits: it holds the lock.
constexpr int kBusyTimeoutMillis = 2000;
// PRAGMA application_id of an onsync job store: "onsj".
constexpr int kApplicationId = 0x6f6e736a;

// The states as the SQL below spells them.
static_assert(onsync::v1::JOB_STATE_QUEUED == 1 && onsync::v1::JOB_STATE_RUNNING == 2 &&
              onsync::v1::JOB_STATE_SUCCEEDED == 3 && onsync::v1::JOB_STATE_FAILED == 4 &&
              onsync::v1::JOB_STATE_DEAD == 5 && onsync::v1::JOB_STATE_CANCELLED == 6);
static_assert(onsync::v1::JOB_KIND_BATCH == 2);

// The schema, one step per version: step i takes a database from user_version i to i + 1, in one
// transaction. Append only: a step that shipped is never edited.
//
// jobs: the Job (binary) is the record; the other columns copy the fields that queries filter and
// sort on (and the lease, which the Job does not show). Times are microseconds since the epoch.
// next_attempt_time is 0 for ended jobs; dedupe_key is NULL when empty.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  id                TEXT PRIMARY KEY NOT NULL,
  profile           TEXT NOT NULL,
  kind              INTEGER NOT NULL,
  state             INTEGER NOT NULL,
  mode              INTEGER NOT NULL,
  dedupe_key        TEXT,
  attempts          INTEGER NOT NULL,
  max_attempts      INTEGER NOT NULL,
  create_time       INTEGER NOT NULL,
  update_time       INTEGER NOT NULL,
  next_attempt_time INTEGER NOT NULL,
  lease_owner       TEXT,
  lease_until       INTEGER,
  job               BLOB NOT NULL
);
-- ClaimNext: due QUEUED and FAILED jobs, and RUNNING ones (few: one per worker) whose lease ended.
CREATE INDEX jobs_due ON jobs (state, next_attempt_time, create_time, id);
-- List, newest first: of some states, of every job, of a profile.
CREATE INDEX jobs_state_created ON jobs (state, create_time, id);
CREATE INDEX jobs_created ON jobs (create_time, id);
CREATE INDEX jobs_profile_created ON jobs (profile, create_time, id);
-- Enqueue's dedupe.
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, create_time) WHERE dedupe_key IS NOT NULL;
-- One batch run per profile.
CREATE INDEX jobs_batches ON jobs (profile, state) WHERE kind = 2;

CREATE TABLE watermarks (
  profile     TEXT PRIMARY KEY NOT NULL,
  value       TEXT NOT NULL,
  update_time INTEGER NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == SqliteJobStore::kSchemaVersion,
              "kSchemaVersion is the number of migrations");

constexpr const char* kSelectJob = "SELECT job, lease_owner, lease_until FROM jobs WHERE id = ?1";
constexpr const char* kInsertJob =
    "INSERT INTO jobs (id, profile, kind, state, mode, dedupe_key, attempts, max_attempts, "
    "create_time, update_time, next_attempt_time, lease_owner, lease_until, job) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL, NULL, ?12)";
constexpr const char* kUpdateJob =
    "UPDATE jobs SET state = ?2, attempts = ?3, update_time = ?4, next_attempt_time = ?5, "
    "lease_owner = ?6, lease_until = ?7, job = ?8 WHERE id = ?1";
constexpr const char* kSelectDuplicate =
    "SELECT job FROM jobs WHERE dedupe_key = ?1 AND create_time > ?2 "
    "ORDER BY create_time DESC, id DESC LIMIT 1";
constexpr const char* kSelectActiveBatch =
    "SELECT id, state FROM jobs WHERE kind = 2 AND profile = ?1 AND state IN (1, 2, 4) "
    "AND id != ?2 LIMIT 1";
// Oldest next_attempt_time first (a RUNNING job's is the time it last became due). Each part has
// its own ORDER BY and LIMIT so that SQLite reads `max` rows of the index, not every due job.
constexpr const char* kSelectClaimable =
    "SELECT job, lease_owner, lease_until FROM ("
    " SELECT * FROM (SELECT job, lease_owner, lease_until, next_attempt_time, create_time, id"
    "  FROM jobs WHERE state IN (1, 4) AND next_attempt_time <= ?1"
    "  ORDER BY next_attempt_time, create_time, id LIMIT ?2)"
    " UNION ALL"
    " SELECT * FROM (SELECT job, lease_owner, lease_until, next_attempt_time, create_time, id"
    "  FROM jobs WHERE state = 2 AND lease_until <= ?1"
    "  ORDER BY next_attempt_time, create_time, id LIMIT ?2)"
    ") ORDER BY next_attempt_time, create_time, id LIMIT ?2";
constexpr const char* kUpdateLease = "UPDATE jobs SET lease_until = ?2 WHERE id = ?1";
constexpr const char* kReleaseLeases =
    "UPDATE jobs SET lease_until = ?1 WHERE state = 2 AND lease_until > ?1";
constexpr const char* kCountByState = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
// QUEUED (1) and FAILED (4) jobs that are due: a range of the jobs_due index per state.
constexpr const char* kQueueStats =
    "SELECT COUNT(*), MIN(next_attempt_time) FROM jobs"
    " WHERE state IN (1, 4) AND next_attempt_time <= ?1";
constexpr const char* kSelectWatermark = "SELECT value FROM watermarks WHERE profile = ?1";
constexpr const char* kUpsertWatermark =
    "INSERT INTO watermarks (profile, value, update_time) VALUES (?1, ?2, ?3) "
    "ON CONFLICT (profile) DO UPDATE SET value = excluded.value, "
    "update_time = excluded.update_time";

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = absl::StrCat("job store: ", AsAbsl(what), ": ", message);
  // A constraint violation is a bug of this file (every write is checked first), not an outage.
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return absl::InternalError(text);
  return absl::UnavailableError(text);
}

bool IsBusy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Statements and rows
// ---------------------------------------------------------------------------------------------

// A cached prepared statement, borrowed: reset (and its bindings cleared) when it goes out of
// scope. Columns are read as the statement's row is current.
class SqliteJobStore::Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  void Bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  // An empty view may have no data pointer, which SQLite would bind as NULL.
  void Bind(int index, std::string_view text) {
    sqlite3_bind_text64(stmt_, index, text.empty() ? "" : text.data(), text.size(),
                        SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  void BindBlob(int index, std::string_view bytes) {
    sqlite3_bind_blob64(stmt_, index, bytes.empty() ? "" : bytes.data(), bytes.size(),
                        SQLITE_TRANSIENT);
  }
  void BindNull(int index) { sqlite3_bind_null(stmt_, index); }

  // True when a row is current, false when the statement is done.
  absl::StatusOr<bool> Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(sqlite3_db_handle(stmt_), rc, "step");
  }

  // Runs a statement that returns no rows (or whose rows do not matter).
  absl::Status Run() {
    while (true) {
      absl::StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
    }
  }

  bool IsNull(int column) { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text == nullptr ? std::string() : std::string(text, sqlite3_column_bytes(stmt_, column));
  }
  std::string_view Blob(int column) {
    const void* data = sqlite3_column_blob(stmt_, column);
    return data == nullptr ? std::string_view()
                           : std::string_view(static_cast<const char*>(data),
                                              sqlite3_column_bytes(stmt_, column));
  }

 private:
  sqlite3_stmt* stmt_;
};

struct SqliteJobStore::Row {
  Job job;
  // Set while RUNNING.
  std::optional<std::string> lease_owner;
  int64_t lease_until = 0;
};

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

SqliteJobStore::SqliteJobStore(std::string path, const clients::Clock& clock, sqlite3* db)
    : path_(std::move(path)), clock_(clock), db_(db) {}

SqliteJobStore::~SqliteJobStore() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

absl::StatusOr<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(std::string path,
                                                                     const clients::Clock& clock) {
  if (path.empty()) return absl::InvalidArgumentError("the job store needs a path");
  if (path != ":memory:") {
    // The jobs hold the events' bodies: a new file is its owner's only (SQLite's WAL file takes
    // the database file's mode).
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = SqliteError(db, rc, absl::StrCat("cannot open ", path));
    sqlite3_close_v2(db);
    return status;
  }
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(std::move(path), clock, db));
  std::lock_guard<std::mutex> lock(store->mu_);
  if (absl::Status status = store->Initialize(); !status.ok()) return status;
  return store;
}

absl::Status SqliteJobStore::Initialize() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMillis);
  // Runs one statement of the setup; `value` gets the first column of its first row.
  const auto run = [this](const char* sql, std::string* value) -> absl::Status {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
      rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW && value != nullptr) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        *value = text == nullptr ? "" : text;
        value = nullptr;
      }
    }
    absl::Status status = rc == SQLITE_DONE ? absl::OkStatus() : SqliteError(db_, rc, sql);
    sqlite3_finalize(stmt);
    if (IsBusy(rc)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job store ", path_, " is in use by another process (or by another store in this one)"));
    }
    return status;
  };
  // EXCLUSIVE before the first access: the WAL index then lives in this process's memory (no
  // -shm file) and the lock taken below is never let go until the connection closes.
  if (absl::Status s = run("PRAGMA locking_mode = EXCLUSIVE", nullptr); !s.ok()) return s;
  std::string journal_mode;
  if (absl::Status s = run("PRAGMA journal_mode = WAL", &journal_mode); !s.ok()) return s;
  if (journal_mode != "wal" && path_ != ":memory:") {
    return absl::FailedPreconditionError(absl::StrCat(
        "job store ", path_, ": cannot use write-ahead logging (journal mode ", journal_mode, ")"));
  }
  if (absl::Status s = run("PRAGMA synchronous = FULL", nullptr); !s.ok()) return s;
  // In WAL mode with EXCLUSIVE locking the first read above already took the exclusive lock; an
  // empty exclusive transaction makes sure of it whatever the journal mode.
  if (absl::Status s = run("BEGIN EXCLUSIVE", nullptr); !s.ok()) return s;
  if (absl::Status s = run("COMMIT", nullptr); !s.ok()) return s;
  return Migrate();
}

absl::Status SqliteJobStore::Migrate() {
  const auto read_int = [this](const char* sql) -> absl::StatusOr<int64_t> {
    absl::StatusOr<Statement> stmt = Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    return *row ? stmt->Int(0) : 0;
  };
  absl::StatusOr<int64_t> version = read_int("PRAGMA user_version");
  if (!version.ok()) return version.status();
  absl::StatusOr<int64_t> application_id = read_int("PRAGMA application_id");
  if (!application_id.ok()) return application_id.status();
  absl::StatusOr<int64_t> objects = read_int("SELECT count(*) FROM sqlite_schema");
  if (!objects.ok()) return objects.status();
  if (*application_id != kApplicationId && (*application_id != 0 || *objects != 0)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job store ", path_, " is a database of another program"));
  }
  if (*version > kSchemaVersion || *version < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job store ", path_, " has schema version ", *version, ", newer than this onsync's (",
        kSchemaVersion, "): run a newer onsync, or use another file"));
  }
  for (int64_t from = *version; from < kSchemaVersion; ++from) {
    absl::Status status = InTransaction([&]() -> absl::Status {
      char* message = nullptr;
      const std::string steps =
          absl::StrCat(kMigrations[from], "PRAGMA user_version = ", from + 1, ";",
                       from == 0 ? absl::StrCat("PRAGMA application_id = ", kApplicationId, ";")
                                 : std::string());
      const int rc = sqlite3_exec(db_, steps.c_str(), nullptr, nullptr, &message);
      sqlite3_free(message);
      if (rc != SQLITE_OK) {
        return SqliteError(db_, rc, absl::StrCat("migration to schema version ", from + 1));
      }
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

absl::StatusOr<SqliteJobStore::Statement> SqliteJobStore::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return SqliteError(db_, rc, "prepare");
    }
    it = statements_.emplace(sql, stmt).first;
  }
  return Statement(it->second);
}

absl::Status SqliteJobStore::Exec(const char* sql) {
  absl::StatusOr<Statement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  return stmt->Run();
}

template <typename Fn>
auto SqliteJobStore::InTransaction(Fn&& fn) -> decltype(fn()) {
  const auto roll_back = [this] {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  };
  if (absl::Status begun = Exec("BEGIN IMMEDIATE"); !begun.ok()) {
    roll_back();
    return begun;
  }
  auto result = fn();
  if (!StatusOf(result).ok()) {
    roll_back();
    return result;
  }
  if (absl::Status committed = Exec("COMMIT"); !committed.ok()) {
    roll_back();
    return committed;
  }
  return result;
}

absl::Time SqliteJobStore::Now() const { return internal::TruncatedNow(clock_); }

absl::StatusOr<std::optional<SqliteJobStore::Row>> SqliteJobStore::Load(std::string_view id) {
  absl::StatusOr<Statement> stmt = Prepare(kSelectJob);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, id);
  absl::StatusOr<bool> found = stmt->Step();
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  absl::StatusOr<Job> job = ParseJob(stmt->Blob(0));
  if (!job.ok()) return job.status();
  Row row;
  row.job = *std::move(job);
  if (!stmt->IsNull(1)) row.lease_owner = stmt->Text(1);
  row.lease_until = stmt->Int(2);
  return row;
}

absl::StatusOr<SqliteJobStore::Row> SqliteJobStore::LoadOrNotFound(std::string_view id) {
  absl::StatusOr<std::optional<Row>> row = Load(id);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(absl::StrCat("no job ", AsAbsl(id)));
  return **std::move(row);
}

absl::StatusOr<SqliteJobStore::Row> SqliteJobStore::LoadLeased(std::string_view id,
                                                               std::string_view owner) {
  absl::StatusOr<Row> row = LoadOrNotFound(id);
  if (!row.ok()) return row;
  if (absl::Status leased = internal::CheckLeased(row->job, row->lease_owner, owner);
      !leased.ok()) {
    return leased;
  }
  return row;
}

absl::Status SqliteJobStore::Save(const Row& row) {
  absl::StatusOr<std::string> bytes = Serialize(row.job);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<Statement> stmt = Prepare(kUpdateJob);
  if (!stmt.ok()) return stmt.status();
  const Job& job = row.job;
  stmt->Bind(1, job.id());
  stmt->Bind(2, int64_t{job.state()});
  stmt->Bind(3, int64_t{job.attempts()});
  stmt->Bind(4, MicrosOf(job.update_time()));
  stmt->Bind(5, job.has_next_attempt_time() ? MicrosOf(job.next_attempt_time()) : 0);
  if (row.lease_owner.has_value()) {
    stmt->Bind(6, *row.lease_owner);
    stmt->Bind(7, row.lease_until);
  } else {
    stmt->BindNull(6);
    stmt->BindNull(7);
  }
  stmt->BindBlob(8, *bytes);
  return stmt->Run();
}

absl::StatusOr<std::optional<std::string>> SqliteJobStore::ActiveBatch(
    std::string_view profile, std::string_view other_than) {
  absl::StatusOr<Statement> stmt = Prepare(kSelectActiveBatch);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, profile);
  stmt->Bind(2, other_than);
  absl::StatusOr<bool> found = stmt->Step();
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  return absl::StrCat(stmt->Text(0), " (", StateName(static_cast<int>(stmt->Int(1))), ")");
}

// ---------------------------------------------------------------------------------------------
// JobStore
// ---------------------------------------------------------------------------------------------

absl::StatusOr<EnqueueResult> SqliteJobStore::Enqueue(NewJob request) {
  absl::StatusOr<Job> queued = internal::NewQueuedJob(request);
  if (!queued.ok()) return queued.status();
  Job& job = *queued;

  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  internal::StampNewJob(ids_.Next(now), now, job);
  absl::StatusOr<std::string> bytes = Serialize(job);
  if (!bytes.ok()) return bytes.status();

  return InTransaction([&]() -> absl::StatusOr<EnqueueResult> {
    if (!request.dedupe_key.empty() && request.dedupe_window > absl::ZeroDuration()) {
      absl::StatusOr<Statement> stmt = Prepare(kSelectDuplicate);
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, request.dedupe_key);
      stmt->Bind(2, Micros(now - request.dedupe_window));
      absl::StatusOr<bool> found = stmt->Step();
      if (!found.ok()) return found.status();
      if (*found) {
        absl::StatusOr<Job> existing = ParseJob(stmt->Blob(0));
        if (!existing.ok()) return existing.status();
        return EnqueueResult{*std::move(existing), /*deduplicated=*/true};
      }
    }
    if (job.kind() == onsync::v1::JOB_KIND_BATCH) {
      absl::StatusOr<std::optional<std::string>> active = ActiveBatch(job.profile(), "");
      if (!active.ok()) return active.status();
      if (active->has_value()) return internal::BatchRunExists(job.profile(), **active);
    }
    absl::StatusOr<Statement> stmt = Prepare(kInsertJob);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, job.id());
    stmt->Bind(2, job.profile());
    stmt->Bind(3, int64_t{job.kind()});
    stmt->Bind(4, int64_t{job.state()});
    stmt->Bind(5, int64_t{job.mode()});
    if (job.dedupe_key().empty()) {
      stmt->BindNull(6);
    } else {
      stmt->Bind(6, job.dedupe_key());
    }
    stmt->Bind(7, int64_t{job.attempts()});
    stmt->Bind(8, int64_t{job.max_attempts()});
    stmt->Bind(9, Micros(now));
    stmt->Bind(10, Micros(now));
    stmt->Bind(11, Micros(now));
    stmt->BindBlob(12, *bytes);
    if (absl::Status inserted = stmt->Run(); !inserted.ok()) return inserted;
    return EnqueueResult{std::move(job), /*deduplicated=*/false};
  });
}

absl::StatusOr<Job> SqliteJobStore::Get(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Row> row = LoadOrNotFound(id);
  if (!row.ok()) return row.status();
  return std::move(row->job);
}

absl::StatusOr<ListPage> SqliteJobStore::List(const ListQuery& query) {
  absl::StatusOr<internal::CheckedListQuery> checked = internal::CheckListQuery(query);
  if (!checked.ok()) return checked.status();
  const int page_size = checked->page_size;
  const std::vector<int>& states = checked->states;

  // The SQL is one of a few shapes (which filters are set, how many states), each cached.
  std::string sql = "SELECT job, create_time, id FROM jobs WHERE 1";
  int next = 1;
  std::vector<std::pair<int, int64_t>> ints;
  std::vector<std::pair<int, std::string_view>> texts;
  if (!states.empty()) {
    absl::StrAppend(&sql, " AND state IN (");
    for (size_t i = 0; i < states.size(); ++i) {
      absl::StrAppend(&sql, i == 0 ? "?" : ", ?", next);
      ints.emplace_back(next++, states[i]);
    }
    absl::StrAppend(&sql, ")");
  }
  if (!query.profile.empty()) {
    absl::StrAppend(&sql, " AND profile = ?", next);
    texts.emplace_back(next++, query.profile);
  }
  if (checked->created_from_micros.has_value()) {
    absl::StrAppend(&sql, " AND create_time >= ?", next);
    ints.emplace_back(next++, *checked->created_from_micros);
  }
  if (checked->created_before_micros.has_value()) {
    absl::StrAppend(&sql, " AND create_time < ?", next);
    ints.emplace_back(next++, *checked->created_before_micros);
  }
  if (checked->after_create_micros.has_value()) {
    absl::StrAppend(&sql, " AND (create_time, id) < (?", next, ", ?", next + 1, ")");
    ints.emplace_back(next++, *checked->after_create_micros);
    texts.emplace_back(next++, checked->after_id);
  }
  absl::StrAppend(&sql, " ORDER BY create_time DESC, id DESC LIMIT ?", next);
  ints.emplace_back(next++, page_size + 1);

  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> stmt = Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  for (const auto& [index, value] : ints) stmt->Bind(index, value);
  for (const auto& [index, value] : texts) stmt->Bind(index, value);
  ListPage page;
  int64_t last_micros = 0;
  std::string last_id;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(page.jobs.size()) == page_size) {
      page.next_page_token = internal::EncodePageToken(last_micros, last_id);
      break;
    }
    absl::StatusOr<Job> job = ParseJob(stmt->Blob(0));
    if (!job.ok()) return job.status();
    page.jobs.push_back(*std::move(job));
    last_micros = stmt->Int(1);
    last_id = stmt->Text(2);
  }
  return page;
}

absl::StatusOr<std::vector<Job>> SqliteJobStore::ClaimNext(std::string_view owner, int max,
                                                           absl::Duration lease) {
  if (absl::Status checked = internal::CheckClaim(owner, max, lease); !checked.ok()) return checked;
  max = std::min(max, internal::kMaxClaim);

  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::StatusOr<std::vector<Job>> {
    std::vector<Job> claimed;
    // A round that buries jobs (below) claims fewer than asked: look again.
    for (int round = 0; static_cast<int>(claimed.size()) < max && round < internal::kMaxClaimRounds;
         ++round) {
      std::vector<Row> rows;
      {
        absl::StatusOr<Statement> stmt = Prepare(kSelectClaimable);
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, Micros(now));
        stmt->Bind(2, int64_t{max} - static_cast<int64_t>(claimed.size()));
        while (true) {
          absl::StatusOr<bool> found = stmt->Step();
          if (!found.ok()) return found.status();
          if (!*found) break;
          absl::StatusOr<Job> job = ParseJob(stmt->Blob(0));
          if (!job.ok()) return job.status();
          Row& row = rows.emplace_back();
          row.job = *std::move(job);
          if (!stmt->IsNull(1)) row.lease_owner = stmt->Text(1);
          row.lease_until = stmt->Int(2);
        }
      }
      if (rows.empty()) break;
      bool buried = false;
      for (Row& row : rows) {
        Job& job = row.job;
        if (internal::IsLastAttemptLeaseExpired(job)) {
          buried = true;
          internal::Bury(job, row.lease_owner.value_or(""), now);
          row.lease_owner.reset();
          if (absl::Status s = Save(row); !s.ok()) return s;
          continue;
        }
        internal::StartAttempt(job, now);
        row.lease_owner = std::string(owner);
        row.lease_until = Micros(now + lease);
        if (absl::Status s = Save(row); !s.ok()) return s;
        claimed.push_back(std::move(job));
      }
      if (!buried) break;
    }
    return claimed;
  });
}

absl::StatusOr<Job> SqliteJobStore::SaveReleased(Row& row) {
  row.lease_owner.reset();
  if (absl::Status saved = Save(row); !saved.ok()) return saved;
  return std::move(row.job);
}

absl::Status SqliteJobStore::Heartbeat(std::string_view id, std::string_view owner,
                                       absl::Duration lease) {
  if (lease <= absl::ZeroDuration()) return absl::InvalidArgumentError("a lease is positive");
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::Status {
    absl::StatusOr<Row> row = LoadLeased(id, owner);
    if (!row.ok()) return row.status();
    absl::StatusOr<Statement> stmt = Prepare(kUpdateLease);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, id);
    stmt->Bind(2, Micros(now + lease));
    return stmt->Run();
  });
}

absl::Status SqliteJobStore::SaveProgress(std::string_view id, std::string_view owner,
                                          const onsync::v1::BatchProgress& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::Status {
    absl::StatusOr<Row> row = LoadLeased(id, owner);
    if (!row.ok()) return row.status();
    internal::RecordProgress(row->job, progress, now);
    return Save(*row);
  });
}

absl::StatusOr<Job> SqliteJobStore::Complete(std::string_view id, std::string_view owner,
                                             const onsync::v1::SyncResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadLeased(id, owner);
    if (!row.ok()) return row.status();
    internal::RecordSuccess(row->job, result, now);
    return SaveReleased(*row);
  });
}

absl::StatusOr<Job> SqliteJobStore::Fail(std::string_view id, std::string_view owner,
                                         const absl::Status& error,
                                         std::optional<absl::Time> retry_at) {
  if (error.ok()) return absl::InvalidArgumentError("Fail needs an error");
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadLeased(id, owner);
    if (!row.ok()) return row.status();
    internal::RecordFailure(row->job, error, retry_at, now);
    return SaveReleased(*row);
  });
}

absl::StatusOr<Job> SqliteJobStore::Requeue(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadOrNotFound(id);
    if (!row.ok()) return row.status();
    Job& job = row->job;
    if (absl::Status allowed = internal::CheckRequeue(job); !allowed.ok()) return allowed;
    if (job.kind() == onsync::v1::JOB_KIND_BATCH) {
      absl::StatusOr<std::optional<std::string>> active = ActiveBatch(job.profile(), job.id());
      if (!active.ok()) return active.status();
      if (active->has_value()) return internal::BatchRunExists(job.profile(), **active);
    }
    internal::Requeue(job, now);
    return SaveReleased(*row);
  });
}

absl::StatusOr<Job> SqliteJobStore::Cancel(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadOrNotFound(id);
    if (!row.ok()) return row.status();
    Job& job = row->job;
    if (absl::Status allowed = internal::CheckCancel(job); !allowed.ok()) return allowed;
    internal::End(job, onsync::v1::JOB_STATE_CANCELLED, now);
    return SaveReleased(*row);
  });
}

absl::Status SqliteJobStore::ReleaseAllLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> stmt = Prepare(kReleaseLeases);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, Micros(now));
    return stmt->Run();
  });
}

absl::StatusOr<std::optional<std::string>> SqliteJobStore::GetWatermark(std::string_view profile) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> stmt = Prepare(kSelectWatermark);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, profile);
  absl::StatusOr<bool> found = stmt->Step();
  if (!found.ok()) return found.status();
  if (!*found) return std::nullopt;
  return stmt->Text(0);
}

absl::Status SqliteJobStore::SetWatermark(std::string_view profile, std::string_view watermark) {
  if (profile.empty()) return absl::InvalidArgumentError("a watermark needs a profile");
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Time now = Now();
  return InTransaction([&]() -> absl::Status {
    absl::StatusOr<Statement> stmt = Prepare(kUpsertWatermark);
    if (!stmt.ok()) return stmt.status();
    stmt->Bind(1, profile);
    stmt->Bind(2, watermark);
    stmt->Bind(3, Micros(now));
    return stmt->Run();
  });
}

absl::StatusOr<std::map<v1::JobState, int64_t>> SqliteJobStore::CountByState() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> stmt = Prepare(kCountByState);
  if (!stmt.ok()) return stmt.status();
  std::map<v1::JobState, int64_t> counts;
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const int64_t state = stmt->Int(0);
    if (!v1::JobState_IsValid(static_cast<int>(state))) continue;
    counts[static_cast<v1::JobState>(state)] = stmt->Int(1);
  }
  return counts;
}

absl::StatusOr<QueueStats> SqliteJobStore::Queue() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<Statement> stmt = Prepare(kQueueStats);
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, Micros(Now()));
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  QueueStats stats;
  if (!*row) return stats;
  stats.depth = stmt->Int(0);
  if (stats.depth > 0) stats.oldest_due = absl::FromUnixMicros(stmt->Int(1));
  return stats;
}

}  // namespace onsync::jobs
