#include "server/jobs/postgres_job_store.h"

#include <endian.h>
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/jobs/postgres_connection.h"

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
using pg::kAdvisoryLockSpace;
using pg::kInt8Oid;
using pg::kTextOid;
using pg::LockKeyHash;
using pg::OneLine;
using pg::Params;
using pg::Result;

// Error messages start with this.
constexpr std::string_view kComponent = "job store";
// PostgreSQL's longest identifier (NAMEDATALEN - 1); channel names are identifiers.
constexpr size_t kMaxIdentifierBytes = 63;

// The states as the SQL below spells them.
static_assert(onsync::v1::JOB_STATE_QUEUED == 1 && onsync::v1::JOB_STATE_RUNNING == 2 &&
              onsync::v1::JOB_STATE_SUCCEEDED == 3 && onsync::v1::JOB_STATE_FAILED == 4 &&
              onsync::v1::JOB_STATE_DEAD == 5 && onsync::v1::JOB_STATE_CANCELLED == 6);
static_assert(onsync::v1::JOB_KIND_BATCH == 2);

// The schema, one step per version: step i takes the schema from version i to i + 1, in one
// transaction. Append only: a step that shipped is never edited.
//
// jobs: the Job (binary) is the record; the other columns copy the fields that queries filter and
// sort on (and the lease, which the Job does not show). Times are microseconds since the epoch.
// next_attempt_time is 0 for ended jobs; dedupe_key is NULL when empty. Ids compare bytewise
// (COLLATE "C"): they sort by creation time that way, whatever the database's collation.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE jobs (
  id                TEXT COLLATE "C" PRIMARY KEY,
  profile           TEXT NOT NULL,
  kind              INTEGER NOT NULL,
  state             INTEGER NOT NULL,
  mode              INTEGER NOT NULL,
  dedupe_key        TEXT,
  attempts          INTEGER NOT NULL,
  max_attempts      INTEGER NOT NULL,
  create_time       BIGINT NOT NULL,
  update_time       BIGINT NOT NULL,
  next_attempt_time BIGINT NOT NULL,
  lease_owner       TEXT,
  lease_until       BIGINT,
  job               BYTEA NOT NULL
);
-- ClaimNext: due QUEUED and FAILED jobs in claim order, and RUNNING ones whose lease ended.
CREATE INDEX jobs_due ON jobs (next_attempt_time, create_time, id) WHERE state IN (1, 4);
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 2;
-- List, newest first: of some states, of every job, of a profile.
CREATE INDEX jobs_state_created ON jobs (state, create_time, id);
CREATE INDEX jobs_created ON jobs (create_time, id);
CREATE INDEX jobs_profile_created ON jobs (profile, create_time, id);
-- Enqueue's dedupe.
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, create_time) WHERE dedupe_key IS NOT NULL;
-- One batch run per profile.
CREATE INDEX jobs_batches ON jobs (profile, state) WHERE kind = 2;

CREATE TABLE watermarks (
  profile     TEXT PRIMARY KEY,
  value       TEXT NOT NULL,
  update_time BIGINT NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == PostgresJobStore::kSchemaVersion,
              "kSchemaVersion is the number of migrations");

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, applied_time BIGINT NOT NULL)";
constexpr const char* kSelectSchemaVersion =
    "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations";
constexpr const char* kInsertMigration =
    "INSERT INTO schema_migrations (version, applied_time) VALUES ($1, $2)";
constexpr const char* kJobsTableExists =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
    " WHERE schemaname = current_schema() AND tablename = 'jobs')";

constexpr const char* kSelectJob = "SELECT job, lease_owner, lease_until FROM jobs WHERE id = $1";
constexpr const char* kSelectJobForUpdate =
    "SELECT job, lease_owner, lease_until FROM jobs WHERE id = $1 FOR UPDATE";
constexpr const char* kInsertJob =
    "INSERT INTO jobs (id, profile, kind, state, mode, dedupe_key, attempts, max_attempts, "
    "create_time, update_time, next_attempt_time, lease_owner, lease_until, job) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, $12)";
constexpr const char* kUpdateJob =
    "UPDATE jobs SET state = $2, attempts = $3, update_time = $4, next_attempt_time = $5, "
    "lease_owner = $6, lease_until = $7, job = $8 WHERE id = $1";
constexpr const char* kSelectDuplicate =
    "SELECT job FROM jobs WHERE dedupe_key = $1 AND create_time > $2 "
    "ORDER BY create_time DESC, id DESC LIMIT 1";
constexpr const char* kSelectActiveBatch =
    "SELECT id, state FROM jobs WHERE kind = 2 AND profile = $1 AND state IN (1, 2, 4) "
    "AND id <> $2 LIMIT 1";
// Two locking reads (a UNION cannot lock rows), each in claim order along its own index, so that
// a long queue costs `limit` rows, not a sort of every due job. SKIP LOCKED: rows that another
// claimer (of any replica) holds are passed over, not waited for.
constexpr const char* kSelectDue =
    "SELECT job, lease_owner, lease_until, next_attempt_time, create_time, id FROM jobs"
    " WHERE state IN (1, 4) AND next_attempt_time <= $1"
    " ORDER BY next_attempt_time, create_time, id LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* kSelectExpiredLeases =
    "SELECT job, lease_owner, lease_until, next_attempt_time, create_time, id FROM jobs"
    " WHERE state = 2 AND lease_until <= $1"
    " ORDER BY next_attempt_time, create_time, id LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* kUpdateLease = "UPDATE jobs SET lease_until = $2 WHERE id = $1";
constexpr const char* kReleaseLeases =
    "UPDATE jobs SET lease_until = $1 WHERE state = 2 AND lease_until > $1";
constexpr const char* kCountByState = "SELECT state, COUNT(*) FROM jobs GROUP BY state";
constexpr const char* kQueueStats =
    "SELECT COUNT(*), MIN(next_attempt_time) FROM jobs"
    " WHERE state IN (1, 4) AND next_attempt_time <= $1";
constexpr const char* kSelectWatermark = "SELECT value FROM watermarks WHERE profile = $1";
constexpr const char* kUpsertWatermark =
    "INSERT INTO watermarks (profile, value, update_time) VALUES ($1, $2, $3) "
    "ON CONFLICT (profile) DO UPDATE SET value = excluded.value, "
    "update_time = excluded.update_time";
constexpr const char* kNotify = "SELECT pg_notify($1, '')";
constexpr const char* kAdvisoryLock = "SELECT pg_advisory_xact_lock($1::integer, $2::integer)";

const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace

struct PostgresJobStore::Row {
  Job job;
  // Set while RUNNING.
  std::optional<std::string> lease_owner;
  int64_t lease_until = 0;
  // ClaimNext's order: next_attempt_time, create_time, id.
  std::tuple<int64_t, int64_t, std::string> claim_order;
};

// ---------------------------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<PostgresJobStore::Connection>> PostgresJobStore::Acquire() {
  std::unique_ptr<Connection> connection;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    pool_released_.wait(
        lock, [this] { return !idle_.empty() || open_connections_ < options_.pool_size; });
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_connections_;  // a place for the connection made below
    }
  }
  if (connection != nullptr && connection->IsAlive()) return connection;
  // None idle, or this one broke while idle (a restarted server, a terminated backend): a new one
  // takes its place.
  connection.reset();
  absl::StatusOr<std::unique_ptr<Connection>> fresh = Connection::Open(options_.dsn, kComponent);
  if (!fresh.ok()) {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      --open_connections_;
    }
    pool_released_.notify_one();
  }
  return fresh;
}

void PostgresJobStore::Release(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (connection->IsReusable()) {
      idle_.push_back(std::move(connection));
    } else {
      --open_connections_;
    }
  }
  // A broken connection is closed outside the lock.
  connection.reset();
  pool_released_.notify_one();
}

template <typename Fn>
auto PostgresJobStore::Run(Fn&& fn) {
  using Out = decltype(fn(std::declval<Connection&>()));
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::unique_ptr<Connection>> db = Acquire();
    if (!db.ok()) return Out(db.status());
    (*db)->StartOperation();
    Out out = fn(**db);
    // A connection that broke on the operation's first statement (BEGIN, or a lone read or
    // idempotent write) did nothing that harms when done again: the operation runs again, once,
    // on a new connection.
    const bool again = !StatusOf(out).ok() && attempt == 0 && (*db)->BrokeBeforeDoingAnything();
    Release(*std::move(db));
    if (!again) return out;
  }
}

template <typename Fn>
auto PostgresJobStore::InTransaction(Fn&& fn) {
  return Run([&fn](Connection& db) -> decltype(fn(db)) {
    if (absl::StatusOr<Result> begun = db.Exec("begin", "BEGIN"); !begun.ok()) {
      return begun.status();
    }
    auto out = fn(db);
    if (!StatusOf(out).ok()) {
      db.RollBack();
      return out;
    }
    if (absl::StatusOr<Result> committed = db.Exec("commit", "COMMIT"); !committed.ok()) {
      db.RollBack();
      return committed.status();
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------------

PostgresJobStore::PostgresJobStore(PostgresJobStoreOptions options, const clients::Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

PostgresJobStore::~PostgresJobStore() = default;

absl::StatusOr<std::unique_ptr<PostgresJobStore>> PostgresJobStore::Open(
    PostgresJobStoreOptions options, const clients::Clock& clock) {
  if (options.dsn.empty()) {
    return absl::InvalidArgumentError("the PostgreSQL job store needs a DSN");
  }
  if (options.pool_size < 1 || options.pool_size > kMaxPoolSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("the PostgreSQL job store's pool_size is 1..", kMaxPoolSize));
  }
  if (absl::Status dsn = pg::CheckDsn(options.dsn); !dsn.ok()) return dsn;
  std::unique_ptr<PostgresJobStore> store(new PostgresJobStore(std::move(options), clock));
  if (absl::Status status = store->Initialize(); !status.ok()) return status;
  return store;
}

absl::Status PostgresJobStore::Initialize() {
  absl::Status found = Run([this](Connection& db) -> absl::Status {
    absl::StatusOr<Result> result = db.Exec("read the current schema", "SELECT current_schema()");
    if (!result.ok()) return result.status();
    if (result->rows() != 1 || result->IsNull(0, 0)) {
      return absl::FailedPreconditionError(
          "job store: the DSN's search_path names no schema that exists: create the schema, or "
          "set it with options='-c search_path=SCHEMA'");
    }
    schema_ = result->Text(0, 0);
    return absl::OkStatus();
  });
  if (!found.ok()) return found;
  channel_ = absl::StrCat("onsync_jobs:", schema_);
  if (channel_.size() > kMaxIdentifierBytes) {
    channel_ = absl::StrCat("onsync_jobs:", static_cast<uint32_t>(LockKeyHash(schema_)));
  }
  if (absl::Status migrated = Migrate(); !migrated.ok()) return migrated;
  std::lock_guard<std::timed_mutex> lock(listen_mu_);
  return Listen();
}

absl::Status PostgresJobStore::Migrate() {
  // One transaction per step, each under the lock: replicas that start at once wait for each
  // other, and each step is applied once.
  while (true) {
    absl::StatusOr<bool> done = InTransaction([this](Connection& db) -> absl::StatusOr<bool> {
      if (absl::Status locked = LockKey(db, "migrate", ""); !locked.ok()) return locked;
      absl::StatusOr<Result> has_table =
          db.Exec("read the schema version",
                  "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
                  " WHERE schemaname = current_schema() AND tablename = 'schema_migrations')");
      if (!has_table.ok()) return has_table.status();
      if (!has_table->Bool(0, 0)) {
        absl::Status created = db.ExecScript("create schema_migrations", kCreateMigrationsTable);
        if (!created.ok()) return created;
      }
      absl::StatusOr<Result> version = db.Exec("read the schema version", kSelectSchemaVersion);
      if (!version.ok()) return version.status();
      const int64_t from = version->Int(0, 0);
      if (from > kSchemaVersion || from < 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job store: schema ", schema_, " has version ", from, ", newer than this onsync's (",
            kSchemaVersion, "): run a newer onsync, or use another schema"));
      }
      if (from == kSchemaVersion) return true;
      if (from == 0) {
        absl::StatusOr<Result> taken =
            db.Exec("look for another program's tables", kJobsTableExists);
        if (!taken.ok()) return taken.status();
        if (taken->Bool(0, 0)) {
          return absl::FailedPreconditionError(
              absl::StrCat("job store: schema ", schema_,
                           " has a jobs table that onsync did not make: use another schema"));
        }
      }
      absl::Status applied =
          db.ExecScript(absl::StrCat("migration to schema version ", from + 1), kMigrations[from]);
      if (!applied.ok()) return applied;
      absl::StatusOr<Result> recorded = db.Exec("record the migration", kInsertMigration,
                                                Params().Int(from + 1).Int(Micros(Now())));
      if (!recorded.ok()) return recorded.status();
      return from + 1 == kSchemaVersion;
    });
    if (!done.ok()) return done.status();
    if (*done) return absl::OkStatus();
  }
}

absl::Status PostgresJobStore::Listen() {
  listener_.reset();
  absl::StatusOr<std::unique_ptr<Connection>> connection =
      Connection::Open(options_.dsn, kComponent);
  if (!connection.ok()) return connection.status();
  // LISTEN takes an identifier, not a value, so it cannot be a parameter: the channel (made from
  // the schema's name) is quoted as an identifier instead.
  char* quoted = PQescapeIdentifier((*connection)->raw(), channel_.data(), channel_.size());
  if (quoted == nullptr) {
    return absl::InternalError(absl::StrCat("job store: cannot quote the channel name: ",
                                            OneLine(PQerrorMessage((*connection)->raw()))));
  }
  const std::string sql = absl::StrCat("LISTEN ", quoted);
  PQfreemem(quoted);
  if (absl::Status listening = (*connection)->ExecScript("listen", sql.c_str()); !listening.ok()) {
    return listening;
  }
  listener_ = *std::move(connection);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

absl::Time PostgresJobStore::Now() const { return internal::TruncatedNow(clock_); }

std::string PostgresJobStore::NewId(absl::Time now) {
  std::lock_guard<std::mutex> lock(ids_mu_);
  return ids_.Next(now);
}

absl::Status PostgresJobStore::LockKey(Connection& db, std::string_view purpose,
                                       std::string_view key) {
  const int32_t hash =
      LockKeyHash(absl::StrCat(AsAbsl(purpose), "\x1f", schema_, "\x1f", AsAbsl(key)));
  return db.Exec("lock", kAdvisoryLock, Params().Int(kAdvisoryLockSpace).Int(hash)).status();
}

absl::Status PostgresJobStore::Notify(Connection& db) {
  return db.Exec("notify", kNotify, Params().Text(channel_)).status();
}

absl::StatusOr<std::optional<PostgresJobStore::Row>> PostgresJobStore::Load(Connection& db,
                                                                            std::string_view id,
                                                                            bool for_update) {
  // No job has an id that is not UTF-8 (PostgreSQL would refuse to compare it).
  if (internal::ValidUtf8(id, id.size()) != id || id.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  absl::StatusOr<Result> result =
      db.Exec("read a job", for_update ? kSelectJobForUpdate : kSelectJob, Params().Text(id));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return std::nullopt;
  absl::StatusOr<Job> job = ParseJob(result->Bytes(0, 0));
  if (!job.ok()) return job.status();
  Row row;
  row.job = *std::move(job);
  if (!result->IsNull(0, 1)) row.lease_owner = result->Text(0, 1);
  row.lease_until = result->Int(0, 2);
  return row;
}

absl::StatusOr<PostgresJobStore::Row> PostgresJobStore::LoadOrNotFound(Connection& db,
                                                                       std::string_view id,
                                                                       bool for_update) {
  absl::StatusOr<std::optional<Row>> row = Load(db, id, for_update);
  if (!row.ok()) return row.status();
  if (!row->has_value()) return absl::NotFoundError(absl::StrCat("no job ", AsAbsl(id)));
  return **std::move(row);
}

absl::StatusOr<PostgresJobStore::Row> PostgresJobStore::LoadLeased(Connection& db,
                                                                   std::string_view id,
                                                                   std::string_view owner) {
  absl::StatusOr<Row> row = LoadOrNotFound(db, id, /*for_update=*/true);
  if (!row.ok()) return row;
  if (absl::Status leased = internal::CheckLeased(row->job, row->lease_owner, owner);
      !leased.ok()) {
    return leased;
  }
  return row;
}

absl::Status PostgresJobStore::Save(Connection& db, const Row& row) {
  absl::StatusOr<std::string> bytes = Serialize(row.job);
  if (!bytes.ok()) return bytes.status();
  const Job& job = row.job;
  Params params;
  params.Text(job.id())
      .Int(job.state())
      .Int(job.attempts())
      .Int(MicrosOf(job.update_time()))
      .Int(job.has_next_attempt_time() ? MicrosOf(job.next_attempt_time()) : 0);
  if (row.lease_owner.has_value()) {
    params.Text(*row.lease_owner).Int(row.lease_until);
  } else {
    params.Null(kTextOid).Null(kInt8Oid);
  }
  params.Bytes(*bytes);
  return db.Exec("write a job", kUpdateJob, params).status();
}

absl::StatusOr<Job> PostgresJobStore::SaveReleased(Connection& db, Row& row) {
  row.lease_owner.reset();
  if (absl::Status saved = Save(db, row); !saved.ok()) return saved;
  return row.job;
}

absl::StatusOr<std::optional<std::string>> PostgresJobStore::ActiveBatch(
    Connection& db, std::string_view profile, std::string_view other_than) {
  absl::StatusOr<Result> result =
      db.Exec("look for a batch run", kSelectActiveBatch, Params().Text(profile).Text(other_than));
  if (!result.ok()) return result.status();
  if (result->rows() == 0) return std::nullopt;
  return absl::StrCat(result->Text(0, 0), " (", StateName(static_cast<int>(result->Int(0, 1))),
                      ")");
}

absl::StatusOr<std::vector<PostgresJobStore::Row>> PostgresJobStore::SelectClaimable(
    Connection& db, absl::Time now, int64_t limit) {
  std::vector<Row> rows;
  for (const char* sql : {kSelectDue, kSelectExpiredLeases}) {
    absl::StatusOr<Result> result =
        db.Exec("claim jobs", sql, Params().Int(Micros(now)).Int(limit));
    if (!result.ok()) return result.status();
    for (int i = 0; i < result->rows(); ++i) {
      absl::StatusOr<Job> job = ParseJob(result->Bytes(i, 0));
      if (!job.ok()) return job.status();
      Row& row = rows.emplace_back();
      row.job = *std::move(job);
      if (!result->IsNull(i, 1)) row.lease_owner = result->Text(i, 1);
      row.lease_until = result->Int(i, 2);
      row.claim_order = {result->Int(i, 3), result->Int(i, 4), result->Text(i, 5)};
    }
  }
  // Both lists are in claim order; together, the first `limit` are claimed. The others stay
  // locked (by this transaction) until it ends, and are claimable again then.
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return a.claim_order < b.claim_order; });
  if (static_cast<int64_t>(rows.size()) > limit) rows.resize(limit);
  return rows;
}

// ---------------------------------------------------------------------------------------------
// JobStore
// ---------------------------------------------------------------------------------------------

absl::StatusOr<EnqueueResult> PostgresJobStore::Enqueue(NewJob request) {
  absl::StatusOr<Job> queued = internal::NewQueuedJob(request);
  if (!queued.ok()) return queued.status();
  Job& job = *queued;
  const absl::Time now = Now();
  internal::StampNewJob(NewId(now), now, job);
  absl::StatusOr<std::string> bytes = Serialize(job);
  if (!bytes.ok()) return bytes.status();
  const bool deduplicate =
      !request.dedupe_key.empty() && request.dedupe_window > absl::ZeroDuration();

  return InTransaction([&](Connection& db) -> absl::StatusOr<EnqueueResult> {
    // Create-once across replicas: the key's lock makes a concurrent Enqueue of the same key wait
    // for this transaction, and then see its job. The dedupe lock is always taken before the
    // batch lock (one order: no deadlock).
    if (deduplicate) {
      if (absl::Status locked = LockKey(db, "dedupe", request.dedupe_key); !locked.ok()) {
        return locked;
      }
      absl::StatusOr<Result> duplicate =
          db.Exec("look for a duplicate", kSelectDuplicate,
                  Params().Text(request.dedupe_key).Int(Micros(now - request.dedupe_window)));
      if (!duplicate.ok()) return duplicate.status();
      if (duplicate->rows() > 0) {
        absl::StatusOr<Job> existing = ParseJob(duplicate->Bytes(0, 0));
        if (!existing.ok()) return existing.status();
        return EnqueueResult{*std::move(existing), /*deduplicated=*/true};
      }
    }
    if (job.kind() == onsync::v1::JOB_KIND_BATCH) {
      if (absl::Status locked = LockKey(db, "batch", job.profile()); !locked.ok()) return locked;
      absl::StatusOr<std::optional<std::string>> active = ActiveBatch(db, job.profile(), "");
      if (!active.ok()) return active.status();
      if (active->has_value()) return internal::BatchRunExists(job.profile(), **active);
    }
    Params params;
    params.Text(job.id()).Text(job.profile()).Int(job.kind()).Int(job.state()).Int(job.mode());
    if (job.dedupe_key().empty()) {
      params.Null(kTextOid);
    } else {
      params.Text(job.dedupe_key());
    }
    params.Int(job.attempts())
        .Int(job.max_attempts())
        .Int(Micros(now))
        .Int(Micros(now))
        .Int(Micros(now))
        .Bytes(*bytes);
    if (absl::StatusOr<Result> inserted = db.Exec("store a job", kInsertJob, params);
        !inserted.ok()) {
      return inserted.status();
    }
    if (absl::Status notified = Notify(db); !notified.ok()) return notified;
    return EnqueueResult{job, /*deduplicated=*/false};
  });
}

absl::StatusOr<Job> PostgresJobStore::Get(std::string_view id) {
  return Run([&](Connection& db) -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadOrNotFound(db, id, /*for_update=*/false);
    if (!row.ok()) return row.status();
    return std::move(row->job);
  });
}

absl::StatusOr<ListPage> PostgresJobStore::List(const ListQuery& query) {
  absl::StatusOr<internal::CheckedListQuery> checked = internal::CheckListQuery(query);
  if (!checked.ok()) return checked.status();

  // The SQL is one of a few shapes (which filters are set, how many states); values are
  // parameters.
  std::string sql = "SELECT job, create_time, id FROM jobs WHERE TRUE";
  Params params;
  int next = 1;
  if (!checked->states.empty()) {
    absl::StrAppend(&sql, " AND state IN (");
    for (size_t i = 0; i < checked->states.size(); ++i) {
      absl::StrAppend(&sql, i == 0 ? "$" : ", $", next++);
      params.Int(checked->states[i]);
    }
    absl::StrAppend(&sql, ")");
  }
  if (!query.profile.empty()) {
    absl::StrAppend(&sql, " AND profile = $", next++);
    params.Text(query.profile);
  }
  if (checked->created_from_micros.has_value()) {
    absl::StrAppend(&sql, " AND create_time >= $", next++);
    params.Int(*checked->created_from_micros);
  }
  if (checked->created_before_micros.has_value()) {
    absl::StrAppend(&sql, " AND create_time < $", next++);
    params.Int(*checked->created_before_micros);
  }
  if (checked->after_create_micros.has_value()) {
    absl::StrAppend(&sql, " AND (create_time, id) < ($", next, ", $", next + 1, ")");
    next += 2;
    params.Int(*checked->after_create_micros).Text(checked->after_id);
  }
  absl::StrAppend(&sql, " ORDER BY create_time DESC, id DESC LIMIT $", next++);
  params.Int(checked->page_size + 1);

  return Run([&](Connection& db) -> absl::StatusOr<ListPage> {
    absl::StatusOr<Result> result = db.Exec("list jobs", sql.c_str(), params);
    if (!result.ok()) return result.status();
    ListPage page;
    for (int i = 0; i < result->rows(); ++i) {
      if (i == checked->page_size) {
        page.next_page_token =
            internal::EncodePageToken(result->Int(i - 1, 1), result->Text(i - 1, 2));
        break;
      }
      absl::StatusOr<Job> job = ParseJob(result->Bytes(i, 0));
      if (!job.ok()) return job.status();
      page.jobs.push_back(*std::move(job));
    }
    return page;
  });
}

absl::StatusOr<std::vector<Job>> PostgresJobStore::ClaimNext(std::string_view owner, int max,
                                                             absl::Duration lease) {
  if (absl::Status checked = internal::CheckClaim(owner, max, lease); !checked.ok()) return checked;
  max = std::min(max, internal::kMaxClaim);
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::StatusOr<std::vector<Job>> {
    std::vector<Job> claimed;
    // A round that buries jobs (below) claims fewer than asked: look again.
    for (int round = 0; static_cast<int>(claimed.size()) < max && round < internal::kMaxClaimRounds;
         ++round) {
      absl::StatusOr<std::vector<Row>> rows =
          SelectClaimable(db, now, int64_t{max} - static_cast<int64_t>(claimed.size()));
      if (!rows.ok()) return rows.status();
      if (rows->empty()) break;
      bool buried = false;
      for (Row& row : *rows) {
        Job& job = row.job;
        if (internal::IsLastAttemptLeaseExpired(job)) {
          buried = true;
          internal::Bury(job, row.lease_owner.value_or(""), now);
          row.lease_owner.reset();
          if (absl::Status s = Save(db, row); !s.ok()) return s;
          continue;
        }
        internal::StartAttempt(job, now);
        row.lease_owner = std::string(owner);
        row.lease_until = Micros(now + lease);
        if (absl::Status s = Save(db, row); !s.ok()) return s;
        claimed.push_back(std::move(job));
      }
      if (!buried) break;
    }
    return claimed;
  });
}

absl::Status PostgresJobStore::Heartbeat(std::string_view id, std::string_view owner,
                                         absl::Duration lease) {
  if (lease <= absl::ZeroDuration()) return absl::InvalidArgumentError("a lease is positive");
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::Status {
    absl::StatusOr<Row> row = LoadLeased(db, id, owner);
    if (!row.ok()) return row.status();
    return db.Exec("extend a lease", kUpdateLease, Params().Text(id).Int(Micros(now + lease)))
        .status();
  });
}

absl::Status PostgresJobStore::SaveProgress(std::string_view id, std::string_view owner,
                                            const onsync::v1::BatchProgress& progress) {
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::Status {
    absl::StatusOr<Row> row = LoadLeased(db, id, owner);
    if (!row.ok()) return row.status();
    internal::RecordProgress(row->job, progress, now);
    return Save(db, *row);
  });
}

absl::StatusOr<Job> PostgresJobStore::Complete(std::string_view id, std::string_view owner,
                                               const onsync::v1::SyncResult& result) {
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadLeased(db, id, owner);
    if (!row.ok()) return row.status();
    internal::RecordSuccess(row->job, result, now);
    return SaveReleased(db, *row);
  });
}

absl::StatusOr<Job> PostgresJobStore::Fail(std::string_view id, std::string_view owner,
                                           const absl::Status& error,
                                           std::optional<absl::Time> retry_at) {
  if (error.ok()) return absl::InvalidArgumentError("Fail needs an error");
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadLeased(db, id, owner);
    if (!row.ok()) return row.status();
    internal::RecordFailure(row->job, error, retry_at, now);
    return SaveReleased(db, *row);
  });
}

absl::StatusOr<Job> PostgresJobStore::Requeue(std::string_view id) {
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadOrNotFound(db, id, /*for_update=*/true);
    if (!row.ok()) return row.status();
    Job& job = row->job;
    if (absl::Status allowed = internal::CheckRequeue(job); !allowed.ok()) return allowed;
    if (job.kind() == onsync::v1::JOB_KIND_BATCH) {
      if (absl::Status locked = LockKey(db, "batch", job.profile()); !locked.ok()) return locked;
      absl::StatusOr<std::optional<std::string>> active = ActiveBatch(db, job.profile(), job.id());
      if (!active.ok()) return active.status();
      if (active->has_value()) return internal::BatchRunExists(job.profile(), **active);
    }
    internal::Requeue(job, now);
    absl::StatusOr<Job> requeued = SaveReleased(db, *row);
    if (!requeued.ok()) return requeued;
    if (absl::Status notified = Notify(db); !notified.ok()) return notified;
    return requeued;
  });
}

absl::StatusOr<Job> PostgresJobStore::Cancel(std::string_view id) {
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::StatusOr<Job> {
    absl::StatusOr<Row> row = LoadOrNotFound(db, id, /*for_update=*/true);
    if (!row.ok()) return row.status();
    Job& job = row->job;
    if (absl::Status allowed = internal::CheckCancel(job); !allowed.ok()) return allowed;
    internal::End(job, onsync::v1::JOB_STATE_CANCELLED, now);
    return SaveReleased(db, *row);
  });
}

absl::Status PostgresJobStore::ReleaseAllLeases() {
  const absl::Time now = Now();
  return InTransaction([&](Connection& db) -> absl::Status {
    absl::StatusOr<Result> released =
        db.Exec("release the leases", kReleaseLeases, Params().Int(Micros(now)));
    if (!released.ok()) return released.status();
    return Notify(db);
  });
}

absl::StatusOr<std::optional<std::string>> PostgresJobStore::GetWatermark(
    std::string_view profile) {
  return Run([&](Connection& db) -> absl::StatusOr<std::optional<std::string>> {
    absl::StatusOr<Result> result =
        db.Exec("read a watermark", kSelectWatermark, Params().Text(profile));
    if (!result.ok()) return result.status();
    if (result->rows() == 0) return std::nullopt;
    return result->Text(0, 0);
  });
}

absl::Status PostgresJobStore::SetWatermark(std::string_view profile, std::string_view watermark) {
  if (profile.empty()) return absl::InvalidArgumentError("a watermark needs a profile");
  const absl::Time now = Now();
  // One idempotent statement: no transaction needed, and safe to run again after a lost
  // connection.
  return Run([&](Connection& db) -> absl::Status {
    return db
        .Exec("write a watermark", kUpsertWatermark,
              Params().Text(profile).Text(watermark).Int(Micros(now)))
        .status();
  });
}

absl::StatusOr<std::map<JobState, int64_t>> PostgresJobStore::CountByState() {
  return Run([&](Connection& db) -> absl::StatusOr<std::map<JobState, int64_t>> {
    absl::StatusOr<Result> result = db.Exec("count jobs", kCountByState);
    if (!result.ok()) return result.status();
    std::map<JobState, int64_t> counts;
    for (int i = 0; i < result->rows(); ++i) {
      const int64_t state = result->Int(i, 0);
      if (!onsync::v1::JobState_IsValid(static_cast<int>(state))) continue;
      counts[static_cast<JobState>(state)] = result->Int(i, 1);
    }
    return counts;
  });
}

absl::StatusOr<QueueStats> PostgresJobStore::Queue() {
  const absl::Time now = Now();
  return Run([&](Connection& db) -> absl::StatusOr<QueueStats> {
    absl::StatusOr<Result> result =
        db.Exec("measure the queue", kQueueStats, Params().Int(Micros(now)));
    if (!result.ok()) return result.status();
    QueueStats stats;
    if (result->rows() == 0) return stats;
    stats.depth = result->Int(0, 0);
    if (stats.depth > 0) stats.oldest_due = absl::FromUnixMicros(result->Int(0, 1));
    return stats;
  });
}

absl::StatusOr<bool> PostgresJobStore::WaitForWork(absl::Duration max_wait) {
  const absl::Time deadline = absl::Now() + std::max(max_wait, absl::ZeroDuration());
  std::unique_lock<std::timed_mutex> lock(listen_mu_, std::defer_lock);
  if (!lock.try_lock_until(absl::ToChronoTime(deadline))) return false;
  if (listener_ == nullptr || listener_->broken()) {
    // Notifications sent while there was no listener are lost: after reconnecting, say "look".
    if (absl::Status listening = Listen(); !listening.ok()) return listening;
    return true;
  }
  PGconn* conn = listener_->raw();
  while (true) {
    if (PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK) {
      // The server went away (restart, terminated backend): listen again on a new connection.
      if (absl::Status listening = Listen(); !listening.ok()) return listening;
      return true;
    }
    bool notified = false;
    while (PGnotify* notify = PQnotifies(conn)) {
      notified = true;
      PQfreemem(notify);
    }
    if (notified) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fd{.fd = PQsocket(conn), .events = POLLIN, .revents = 0};
    const int ready = poll(&fd, 1, static_cast<int>(std::ceil(absl::ToDoubleMilliseconds(left))));
    if (ready < 0 && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("job store: waiting for notifications: ", std::strerror(errno)));
    }
    if (ready == 0) return false;
  }
}

}  // namespace onsync::jobs
