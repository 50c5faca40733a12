// The JobStore contract (server/jobs/job_store.h), written against JobStore& so that every store
// runs it: INSTANTIATE_TEST_SUITE_P below lists the stores (SQLite in a temporary directory;
// PostgreSQL in a fresh schema of the database that ONSYNC_TEST_PG_DSN names, which scripts/test.sh
// starts: without it the PostgreSQL tests fail, saying how to run them). Time is a fake clock the
// tests advance. The SQLite store's own file handling (one process per file, schema versions) is
// tested at the end; the PostgreSQL store's own behaviour (replicas, notifications, reconnects,
// migrations) in postgres_job_store_test.cc.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"
#include "server/jobs/postgres_job_store.h"
#include "server/jobs/sqlite_job_store.h"
#include "tests/server/jobs/postgres_test_support.h"

namespace onsync::jobs {
namespace {

using ::onsync::v1::BatchProgress;
using ::onsync::v1::Job;
using ::onsync::v1::JobState;
using ::onsync::v1::SyncResult;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr JobState kQueued = onsync::v1::JOB_STATE_QUEUED;
constexpr JobState kRunning = onsync::v1::JOB_STATE_RUNNING;
constexpr JobState kSucceeded = onsync::v1::JOB_STATE_SUCCEEDED;
constexpr JobState kFailed = onsync::v1::JOB_STATE_FAILED;
constexpr JobState kDead = onsync::v1::JOB_STATE_DEAD;
constexpr JobState kCancelled = onsync::v1::JOB_STATE_CANCELLED;
constexpr absl::Duration kLease = absl::Seconds(30);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

// A clock the test moves. std::mutex: Debian's Abseil is invisible to ThreadSanitizer.
class FakeClock final : public clients::Clock {
 public:
  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

// A fresh directory, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "onsync_jobs_XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

google::protobuf::Timestamp Ts(absl::Time t) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(absl::ToUnixSeconds(t));
  ts.set_nanos(
      static_cast<int32_t>((t - absl::FromUnixSeconds(ts.seconds())) / absl::Nanoseconds(1)));
  return ts;
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

MATCHER_P(EqualsProto, expected, "equals the proto") {
  google::protobuf::util::MessageDifferencer differencer;
  std::string differences;
  differencer.ReportDifferencesToString(&differences);
  if (differencer.Compare(expected, arg)) return true;
  *result_listener << "differences:\n" << differences;
  return false;
}

MATCHER_P(StatusIs, code, "") {
  if (arg.code() == code) return true;
  *result_listener << "status " << arg;
  return false;
}

absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    const absl::Status status_ = StatusOf(expr);           \
    ASSERT_TRUE(status_.ok()) << #expr << ": " << status_; \
  } while (0)
#define EXPECT_OK(expr)                                    \
  do {                                                     \
    const absl::Status status_ = StatusOf(expr);           \
    EXPECT_TRUE(status_.ok()) << #expr << ": " << status_; \
  } while (0)

// The value of an OK result (a test failure and T{} otherwise).
template <typename T>
T Ok(absl::StatusOr<T> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return T{};
  return *std::move(result);
}

std::vector<std::string> Ids(const std::vector<Job>& jobs) {
  std::vector<std::string> ids;
  for (const Job& job : jobs) ids.push_back(job.id());
  return ids;
}

// ---------------------------------------------------------------------------------------------
// The stores under test
// ---------------------------------------------------------------------------------------------

// Makes a store. `dir` is a fresh, empty directory per test; opening the same `dir` again (after
// the previous store was destroyed) must find the same jobs. `cleanup` (optional) runs at the end
// of the test, after the store was destroyed.
struct StoreFactory {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<JobStore>>(const std::string& dir,
                                                          const clients::Clock& clock)>
      open;
  std::function<void(const std::string& dir)> cleanup = nullptr;
};

void PrintTo(const StoreFactory& factory, std::ostream* out) { *out << factory.name; }

StoreFactory SqliteFactory() {
  return {"sqlite",
          [](const std::string& dir,
             const clients::Clock& clock) -> absl::StatusOr<std::unique_ptr<JobStore>> {
            auto store = SqliteJobStore::Open(dir + "/jobs.db", clock);
            if (!store.ok()) return store.status();
            return std::unique_ptr<JobStore>(*std::move(store));
          }};
}

// A fresh schema per test (per `dir`), kept across reopens and dropped at cleanup. Tests in
// parallel processes use different schemas of the one test database.
class PostgresSchemas {
 public:
  static absl::StatusOr<std::string> DsnFor(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu());
    auto it = schemas().find(dir);
    if (it == schemas().end()) {
      absl::StatusOr<std::unique_ptr<postgres_testing::TestSchema>> schema =
          postgres_testing::TestSchema::Create();
      if (!schema.ok()) return schema.status();
      it = schemas().emplace(dir, *std::move(schema)).first;
    }
    return it->second->dsn();
  }
  static void Drop(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu());
    schemas().erase(dir);
  }

 private:
  static std::mutex& mu() {
    static std::mutex mu;
    return mu;
  }
  static std::map<std::string, std::unique_ptr<postgres_testing::TestSchema>>& schemas() {
    static auto* schemas =
        new std::map<std::string, std::unique_ptr<postgres_testing::TestSchema>>();
    return *schemas;
  }
};

StoreFactory PostgresFactory() {
  return {"postgres",
          [](const std::string& dir,
             const clients::Clock& clock) -> absl::StatusOr<std::unique_ptr<JobStore>> {
            absl::StatusOr<std::string> dsn = PostgresSchemas::DsnFor(dir);
            if (!dsn.ok()) return dsn.status();
            auto store = PostgresJobStore::Open({.dsn = *dsn, .pool_size = 4}, clock);
            if (!store.ok()) return store.status();
            return std::unique_ptr<JobStore>(*std::move(store));
          },
          [](const std::string& dir) { PostgresSchemas::Drop(dir); }};
}

class JobStoreContractTest : public testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override { Reopen(); }

  void TearDown() override {
    store_.reset();
    if (GetParam().cleanup) GetParam().cleanup(dir_.path());
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<JobStore>> store = GetParam().open(dir_.path(), clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  JobStore& store() { return *store_; }

  static NewJob Event(std::string profile = "apps", std::string key = "Payroll") {
    NewJob request;
    request.job.set_profile(std::move(profile));
    request.job.set_kind(onsync::v1::JOB_KIND_EVENT);
    request.job.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
    request.job.mutable_trigger()->set_key(std::move(key));
    return request;
  }

  static NewJob Batch(std::string profile = "apps") {
    NewJob request;
    request.job.set_profile(std::move(profile));
    request.job.set_kind(onsync::v1::JOB_KIND_BATCH);
    request.job.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
    request.job.mutable_batch()->set_full(true);
    return request;
  }

  Job Add(NewJob request) {
    absl::StatusOr<EnqueueResult> result = store().Enqueue(std::move(request));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return Job();
    EXPECT_FALSE(result->deduplicated);
    return result->job;
  }

  Job AddEvent(std::string profile = "apps") { return Add(Event(std::move(profile))); }

  // Claims exactly one job (the test's only due one) for `owner`.
  Job ClaimOne(const std::string& owner, absl::Duration lease = kLease) {
    std::vector<Job> claimed = Ok(store().ClaimNext(owner, 1, lease));
    EXPECT_THAT(claimed, SizeIs(1));
    return claimed.empty() ? Job() : claimed[0];
  }

  std::vector<Job> ListAll(ListQuery query = {}) {
    query.page_size = 500;
    ListPage page = Ok(store().List(query));
    EXPECT_THAT(page.next_page_token, IsEmpty());
    return page.jobs;
  }

  // A job in `state` (via the lease calls), created now.
  Job InState(JobState state, NewJob request = Event()) {
    Job job = Add(std::move(request));
    if (state == kQueued) return job;
    if (state == kCancelled) return Ok(store().Cancel(job.id()));
    std::vector<Job> claimed = Ok(store().ClaimNext("setup", 100, kLease));
    for (const Job& other : claimed) {
      if (other.id() != job.id()) ADD_FAILURE() << "another job was due: " << other.id();
    }
    switch (state) {
      case kRunning:
        return Ok(store().Get(job.id()));
      case kSucceeded:
        return Ok(store().Complete(job.id(), "setup", SyncResult()));
      case kFailed:
        return Ok(store().Fail(job.id(), "setup", absl::UnavailableError("down"),
                               clock_.Now() + absl::Hours(1)));
      case kDead:
        return Ok(store().Fail(job.id(), "setup", absl::NotFoundError("gone"), std::nullopt));
      default:
        ADD_FAILURE() << "no such state";
        return job;
    }
  }

  FakeClock clock_;
  TempDir dir_;
  std::unique_ptr<JobStore> store_;
};

// ---------------------------------------------------------------------------------------------
// Enqueue and Get
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, EnqueueThenGetRoundTripsEveryField) {
  // Not a whole microsecond: stores may keep microseconds only.
  clock_.Set(absl::FromUnixNanos(1'700'000'000'123'456'789));
  const absl::Time now = absl::FromUnixMicros(1'700'000'000'123'456);

  NewJob request;
  Job& in = request.job;
  in.set_profile("business_app");
  in.set_kind(onsync::v1::JOB_KIND_EVENT);
  in.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
  in.set_max_attempts(3);
  in.mutable_trigger()->set_record_id(1001);
  in.mutable_trigger()->set_key("Pay^Roll, 'Zoë' ✓");
  (*in.mutable_trigger()->mutable_raw_values())["name"] = "Payroll";
  (*in.mutable_trigger()->mutable_raw_values())["owner"] = "Ann Lee";
  auto& body = *in.mutable_trigger()->mutable_body()->mutable_fields();
  body["recordId"].set_number_value(1001);
  body["name"].set_string_value("Payroll");
  body["flag"].set_bool_value(true);
  body["nothing"].set_null_value(google::protobuf::NULL_VALUE);
  request.dedupe_key = "outcome:business_app:1001";
  request.dedupe_window = absl::Hours(1);
  // What the store assigns is ignored when given.
  Job expected = in;
  in.set_id("j_mine");
  in.set_state(kSucceeded);
  in.set_attempts(4);
  *in.mutable_create_time() = Ts(absl::UnixEpoch());
  *in.mutable_start_time() = Ts(absl::UnixEpoch());
  in.mutable_last_error()->set_code(2);
  in.mutable_result()->set_written(true);
  in.set_dedupe_key("other");

  EnqueueResult result = Ok(store().Enqueue(std::move(request)));
  EXPECT_FALSE(result.deduplicated);
  EXPECT_THAT(result.job.id(), MatchesRegex("j_[0-9A-HJKMNP-TV-Z]{26}"));
  expected.set_id(result.job.id());
  expected.set_state(kQueued);
  expected.set_attempts(0);
  expected.set_dedupe_key("outcome:business_app:1001");
  *expected.mutable_create_time() = Ts(now);
  *expected.mutable_update_time() = Ts(now);
  *expected.mutable_next_attempt_time() = Ts(now);
  EXPECT_THAT(result.job, EqualsProto(expected));
  EXPECT_THAT(Ok(store().Get(result.job.id())), EqualsProto(expected));
}

TEST_P(JobStoreContractTest, EnqueueOfABatchRunRoundTripsAndDefaultsMaxAttemptsTo8) {
  NewJob request = Batch("users");
  request.job.set_mode(onsync::v1::SYNC_MODE_DRY_RUN);
  *request.job.mutable_batch()->mutable_since() = Ts(absl::FromUnixSeconds(1'600'000'000));
  const Job job = Add(request);
  EXPECT_EQ(job.kind(), onsync::v1::JOB_KIND_BATCH);
  EXPECT_EQ(job.max_attempts(), 8);
  EXPECT_EQ(job.profile(), "users");
  EXPECT_EQ(job.mode(), onsync::v1::SYNC_MODE_DRY_RUN);
  EXPECT_THAT(job.batch(), EqualsProto(request.job.batch()));
  EXPECT_FALSE(job.has_trigger());
  EXPECT_FALSE(job.has_progress());
  EXPECT_THAT(job.dedupe_key(), IsEmpty());
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(job));
}

TEST_P(JobStoreContractTest, EnqueueOfAMalformedJobIsInvalidArgument) {
  NewJob no_profile = Event("");
  EXPECT_THAT(store().Enqueue(no_profile).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  NewJob no_kind = Event();
  no_kind.job.set_kind(onsync::v1::JOB_KIND_UNSPECIFIED);
  EXPECT_THAT(store().Enqueue(no_kind).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  NewJob negative_attempts = Event();
  negative_attempts.job.set_max_attempts(-1);
  EXPECT_THAT(store().Enqueue(negative_attempts).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  NewJob not_utf8 = Event("apps", "bad \xff byte");
  EXPECT_THAT(store().Enqueue(not_utf8).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ListAll(), IsEmpty());
}

TEST_P(JobStoreContractTest, GetOfAnUnknownIdIsNotFound) {
  EXPECT_THAT(store().Get("j_00000000000000000000000000").status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store().Get("").status(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(JobStoreContractTest, IdsAreUniqueAndSortByCreationTime) {
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) {
    ids.push_back(AddEvent().id());
    // A third in one instant, a third a microsecond apart, a third a millisecond apart.
    if (i >= 100) clock_.Advance(i < 200 ? absl::Microseconds(1) : absl::Milliseconds(1));
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  for (const std::string& id : ids) EXPECT_THAT(id, MatchesRegex("j_[0-9A-HJKMNP-TV-Z]{26}"));
  // Reopened, the store keeps making larger ids.
  clock_.Advance(absl::Milliseconds(1));
  Reopen();
  EXPECT_GT(AddEvent().id(), ids.back());
}

// ---------------------------------------------------------------------------------------------
// Dedupe
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, EnqueueWithinTheDedupeWindowReturnsTheExistingJob) {
  NewJob first = Event("apps", "first");
  first.dedupe_key = "request-1";
  first.dedupe_window = absl::Hours(1);
  const Job job = Add(first);

  clock_.Advance(absl::Minutes(59));
  NewJob again = Event("apps", "second");
  again.dedupe_key = "request-1";
  again.dedupe_window = absl::Hours(1);
  EnqueueResult result = Ok(store().Enqueue(again));
  EXPECT_TRUE(result.deduplicated);
  EXPECT_THAT(result.job, EqualsProto(job));

  // Whatever the job's state.
  ASSERT_OK(store().ClaimNext("worker", 1, kLease));
  const Job done = Ok(store().Complete(job.id(), "worker", SyncResult()));
  result = Ok(store().Enqueue(again));
  EXPECT_TRUE(result.deduplicated);
  EXPECT_THAT(result.job, EqualsProto(done));
  EXPECT_THAT(ListAll(), SizeIs(1));
}

TEST_P(JobStoreContractTest, EnqueueAfterTheDedupeWindowStoresANewJob) {
  NewJob request = Event();
  request.dedupe_key = "request-1";
  request.dedupe_window = absl::Hours(1);
  const Job first = Add(request);
  clock_.Advance(absl::Minutes(61));
  const Job second = Add(request);
  EXPECT_NE(second.id(), first.id());
  EXPECT_EQ(second.dedupe_key(), "request-1");
  // The newest job with the key is the one returned from now on.
  clock_.Advance(absl::Minutes(1));
  EnqueueResult result = Ok(store().Enqueue(request));
  EXPECT_TRUE(result.deduplicated);
  EXPECT_EQ(result.job.id(), second.id());
  // Each Enqueue's own window decides.
  request.dedupe_window = absl::Hours(3);
  result = Ok(store().Enqueue(request));
  EXPECT_EQ(result.job.id(), second.id());
  EXPECT_THAT(ListAll(), SizeIs(2));
}

TEST_P(JobStoreContractTest, EnqueueWithoutADedupeKeyStoresEveryJob) {
  const Job a = AddEvent();
  const Job b = AddEvent();
  EXPECT_NE(a.id(), b.id());
  NewJob other_key = Event();
  other_key.dedupe_key = "k1";
  Add(other_key);
  other_key.dedupe_key = "k2";
  Add(other_key);
  EXPECT_THAT(ListAll(), SizeIs(4));
}

TEST_P(JobStoreContractTest, ConcurrentEnqueuesOfOneKeyStoreOneJob) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<EnqueueResult>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        NewJob request = Event("apps", absl::StrCat("thread ", t));
        request.dedupe_key = "the-one-key";
        absl::StatusOr<EnqueueResult> result = store().Enqueue(std::move(request));
        if (result.ok()) results[t].push_back(*std::move(result));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> ids;
  int stored = 0;
  for (const auto& per_thread : results) {
    EXPECT_THAT(per_thread, SizeIs(kPerThread));
    for (const EnqueueResult& result : per_thread) {
      ids.insert(result.job.id());
      if (!result.deduplicated) ++stored;
    }
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(stored, 1);
  EXPECT_THAT(ListAll(), SizeIs(1));
}

// ---------------------------------------------------------------------------------------------
// One batch run per profile
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, OneBatchRunPerProfileWhileQueuedRunningOrFailed) {
  const Job batch = Add(Batch("apps"));
  const auto expect_refused = [&](const char* when) {
    absl::StatusOr<EnqueueResult> again = store().Enqueue(Batch("apps"));
    EXPECT_THAT(again.status(), StatusIs(absl::StatusCode::kAlreadyExists)) << when;
    EXPECT_THAT(std::string(again.status().message()), HasSubstr(batch.id())) << when;
  };
  expect_refused("queued");
  ClaimOne("worker");
  expect_refused("running");
  ASSERT_OK(store().Fail(batch.id(), "worker", absl::UnavailableError("down"),
                         clock_.Now() + absl::Minutes(1)));
  expect_refused("failed");

  // Other profiles, and events of this one, are not concerned.
  Add(Batch("users"));
  Add(Event("apps"));

  clock_.Advance(absl::Minutes(1));
  std::vector<Job> claimed = Ok(store().ClaimNext("worker", 10, kLease));
  ASSERT_THAT(claimed, SizeIs(3));
  ASSERT_OK(store().Complete(batch.id(), "worker", SyncResult()));
  const Job next = Add(Batch("apps"));  // allowed once the run SUCCEEDED
  ASSERT_OK(store().Cancel(next.id()));
  const Job after_cancel = Add(Batch("apps"));  // and CANCELLED
  ASSERT_THAT(Ok(store().ClaimNext("worker", 10, kLease)), SizeIs(1));
  ASSERT_OK(store().Fail(after_cancel.id(), "worker", absl::InternalError("bug"), std::nullopt));
  Add(Batch("apps"));  // and DEAD
}

TEST_P(JobStoreContractTest, ARepeatedBatchRequestWithItsDedupeKeyIsDeduplicatedNotRefused) {
  NewJob request = Batch("apps");
  request.dedupe_key = "request-7";
  const Job batch = Add(request);
  EnqueueResult again = Ok(store().Enqueue(request));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_EQ(again.job.id(), batch.id());
}

// ---------------------------------------------------------------------------------------------
// ClaimNext
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, ClaimNextSetsTheLeaseAttemptsAndStartTime) {
  const Job queued = AddEvent();
  clock_.Advance(absl::Seconds(5));
  const Job claimed = ClaimOne("worker-1");
  Job expected = queued;
  expected.set_state(kRunning);
  expected.set_attempts(1);
  *expected.mutable_start_time() = Ts(clock_.Now());
  *expected.mutable_update_time() = Ts(clock_.Now());
  EXPECT_THAT(claimed, EqualsProto(expected));
  EXPECT_THAT(Ok(store().Get(queued.id())), EqualsProto(expected));
}

TEST_P(JobStoreContractTest, ClaimNextTakesTheOldestNextAttemptTimeFirst) {
  const Job a = AddEvent();
  clock_.Advance(absl::Seconds(1));
  const Job b = AddEvent();
  clock_.Advance(absl::Seconds(1));
  const Job c = AddEvent();
  const Job d = AddEvent();  // same instant as c: creation order decides
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(ClaimOne("w").id(), a.id());
  EXPECT_EQ(ClaimOne("w").id(), b.id());
  EXPECT_EQ(ClaimOne("w").id(), c.id());
  EXPECT_EQ(ClaimOne("w").id(), d.id());

  // Retried jobs come back in the order of their retry times, not of their creation.
  const absl::Time now = clock_.Now();
  ASSERT_OK(store().Fail(a.id(), "w", absl::UnavailableError("x"), now + absl::Seconds(30)));
  ASSERT_OK(store().Fail(b.id(), "w", absl::UnavailableError("x"), now + absl::Seconds(10)));
  ASSERT_OK(store().Fail(c.id(), "w", absl::UnavailableError("x"), now + absl::Seconds(20)));
  ASSERT_OK(store().Complete(d.id(), "w", SyncResult()));
  clock_.Advance(absl::Minutes(1));
  const Job e = AddEvent();  // due now, after all three
  EXPECT_THAT(Ids(Ok(store().ClaimNext("w", 10, kLease))),
              ElementsAre(b.id(), c.id(), a.id(), e.id()));
}

TEST_P(JobStoreContractTest, ClaimNextTakesAtMostMax) {
  for (int i = 0; i < 5; ++i) AddEvent();
  EXPECT_THAT(Ok(store().ClaimNext("w", 2, kLease)), SizeIs(2));
  EXPECT_THAT(Ok(store().ClaimNext("w", 2, kLease)), SizeIs(2));
  EXPECT_THAT(Ok(store().ClaimNext("w", 2, kLease)), SizeIs(1));
  EXPECT_THAT(Ok(store().ClaimNext("w", 2, kLease)), IsEmpty());
}

TEST_P(JobStoreContractTest, ClaimNextRejectsNonsense) {
  AddEvent();
  EXPECT_THAT(store().ClaimNext("", 1, kLease).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store().ClaimNext("w", 0, kLease).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store().ClaimNext("w", 1, absl::ZeroDuration()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Ok(store().ClaimNext("w", 1, kLease)), SizeIs(1));
}

TEST_P(JobStoreContractTest, ClaimNextLeavesJobsThatAreNotYetDue) {
  const Job job = AddEvent();
  ClaimOne("w");
  ASSERT_OK(store().Fail(job.id(), "w", absl::UnavailableError("down"),
                         clock_.Now() + absl::Seconds(10)));
  EXPECT_THAT(Ok(store().ClaimNext("w", 10, kLease)), IsEmpty());
  clock_.Advance(absl::Seconds(9));
  EXPECT_THAT(Ok(store().ClaimNext("w", 10, kLease)), IsEmpty());
  clock_.Advance(absl::Seconds(1));
  const Job again = ClaimOne("w");
  EXPECT_EQ(again.id(), job.id());
  EXPECT_EQ(again.attempts(), 2);
}

TEST_P(JobStoreContractTest, AClaimedJobIsNotClaimedAgainWhileItsLeaseLasts) {
  AddEvent();
  ClaimOne("a", absl::Seconds(30));
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
  clock_.Advance(absl::Seconds(29));
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
}

TEST_P(JobStoreContractTest, ConcurrentClaimersClaimEveryJobExactlyOnce) {
  constexpr int kInitial = 200;
  constexpr int kLater = 100;
  constexpr int kClaimers = 8;
  for (int i = 0; i < kInitial; ++i) AddEvent();
  std::atomic<bool> enqueuing{true};
  std::vector<std::vector<std::string>> claimed(kClaimers);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < kLater; ++i) EXPECT_OK(store().Enqueue(Event()));
    enqueuing = false;
  });
  for (int t = 0; t < kClaimers; ++t) {
    threads.emplace_back([&, t] {
      const std::string owner = absl::StrCat("worker-", t);
      while (true) {
        const bool last_round = !enqueuing;
        absl::StatusOr<std::vector<Job>> jobs = store().ClaimNext(owner, 3, absl::Hours(1));
        if (!jobs.ok()) {
          ADD_FAILURE() << jobs.status();
          return;
        }
        for (const Job& job : *jobs) {
          claimed[t].push_back(job.id());
          EXPECT_OK(store().Complete(job.id(), owner, SyncResult()));
        }
        if (jobs->empty() && last_round) return;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::multiset<std::string> all;
  for (const auto& ids : claimed) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kInitial + kLater));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), all.size()) << "a job twice";
  ListQuery succeeded;
  succeeded.states = {kSucceeded};
  EXPECT_THAT(ListAll(succeeded), SizeIs(kInitial + kLater));
}

TEST_P(JobStoreContractTest, AJobWhoseLeaseExpiredIsClaimedAgainWithOneMoreAttempt) {
  const Job job = AddEvent();
  const Job first = ClaimOne("a", absl::Seconds(30));
  clock_.Advance(absl::Seconds(30));
  const Job second = ClaimOne("b", absl::Seconds(30));
  EXPECT_EQ(second.id(), job.id());
  EXPECT_EQ(second.state(), kRunning);
  EXPECT_EQ(second.attempts(), 2);
  EXPECT_THAT(second.start_time(), EqualsProto(first.start_time()));  // the first claim's
  EXPECT_THAT(second.update_time(), EqualsProto(Ts(clock_.Now())));
}

TEST_P(JobStoreContractTest, AJobWhoseLastAttemptsLeaseExpiredIsDead) {
  NewJob request = Event();
  request.job.set_max_attempts(2);
  const Job job = Add(request);
  ClaimOne("a");
  clock_.Advance(kLease);
  ClaimOne("b");
  clock_.Advance(kLease);
  EXPECT_THAT(Ok(store().ClaimNext("c", 10, kLease)), IsEmpty());
  const Job dead = Ok(store().Get(job.id()));
  EXPECT_EQ(dead.state(), kDead);
  EXPECT_EQ(dead.attempts(), 2);
  EXPECT_EQ(dead.last_error().code(), static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_THAT(dead.end_time(), EqualsProto(Ts(clock_.Now())));
  // Other due jobs are claimed in the same call all the same.
  AddEvent();
  ClaimOne("c");
}

// ---------------------------------------------------------------------------------------------
// Leases: Heartbeat, SaveProgress, Complete, Fail
// ---------------------------------------------------------------------------------------------

// Every lease call of `owner` on `id` is ABORTED, and the job is left as it was.
void ExpectLeaseCallsAborted(JobStore& store, const std::string& id, const std::string& owner) {
  const Job before = Ok(store.Get(id));
  BatchProgress progress;
  progress.set_seen(5);
  SyncResult result;
  result.set_written(true);
  EXPECT_THAT(store.Heartbeat(id, owner, absl::Hours(1)), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store.SaveProgress(id, owner, progress), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store.Complete(id, owner, result).status(), StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store.Fail(id, owner, absl::UnavailableError("x"), absl::UnixEpoch()).status(),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store.Fail(id, owner, absl::UnavailableError("x"), std::nullopt).status(),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(Ok(store.Get(id)), EqualsProto(before));
}

TEST_P(JobStoreContractTest, LeaseCallsOfAnotherOwnerAreAbortedAndChangeNothing) {
  const Job job = Add(Batch());
  ExpectLeaseCallsAborted(store(), job.id(), "a");  // QUEUED: nobody's
  ClaimOne("a", absl::Seconds(30));
  ExpectLeaseCallsAborted(store(), job.id(), "b");
  // b's heartbeat did not extend a's lease.
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(ClaimOne("c").id(), job.id());
}

TEST_P(JobStoreContractTest, LeaseCallsAfterATakeoverAreAborted) {
  const Job job = Add(Batch());
  ClaimOne("a", absl::Seconds(30));
  clock_.Advance(absl::Seconds(31));
  ClaimOne("b", absl::Seconds(30));
  ExpectLeaseCallsAborted(store(), job.id(), "a");
  EXPECT_OK(store().Heartbeat(job.id(), "b", kLease));
  EXPECT_EQ(Ok(store().Complete(job.id(), "b", SyncResult())).state(), kSucceeded);
  ExpectLeaseCallsAborted(store(), job.id(), "b");  // ended
}

TEST_P(JobStoreContractTest, LeaseCallsOnAnUnknownJobAreNotFound) {
  const std::string id = "j_00000000000000000000000000";
  EXPECT_THAT(store().Heartbeat(id, "a", kLease), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store().SaveProgress(id, "a", BatchProgress()),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store().Complete(id, "a", SyncResult()).status(),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store().Fail(id, "a", absl::UnavailableError("x"), std::nullopt).status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(JobStoreContractTest, HeartbeatExtendsTheLease) {
  const Job job = AddEvent();
  ClaimOne("a", absl::Seconds(30));
  clock_.Advance(absl::Seconds(20));
  ASSERT_OK(store().Heartbeat(job.id(), "a", absl::Seconds(30)));  // until 50 s
  clock_.Advance(absl::Seconds(29));
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(ClaimOne("b").id(), job.id());
}

TEST_P(JobStoreContractTest, AnExpiredLeaseStaysTheOwnersUntilAnotherWorkerClaimsTheJob) {
  const Job job = AddEvent();
  ClaimOne("a", absl::Seconds(10));
  clock_.Advance(absl::Seconds(20));
  ASSERT_OK(store().Heartbeat(job.id(), "a", absl::Seconds(10)));
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
  EXPECT_EQ(Ok(store().Complete(job.id(), "a", SyncResult())).state(), kSucceeded);
}

TEST_P(JobStoreContractTest, SaveProgressStoresTheCheckpoint) {
  const Job job = Add(Batch());
  ClaimOne("a");
  BatchProgress progress;
  progress.set_seen(100);
  progress.set_created(3);
  progress.set_updated(40);
  progress.set_unchanged(55);
  progress.set_failed(2);
  progress.set_cursor_updated_on("2024-05-01 10:00:00");
  progress.set_cursor_sys_id("a1b2c3");
  clock_.Advance(absl::Seconds(3));
  ASSERT_OK(store().SaveProgress(job.id(), "a", progress));
  const Job saved = Ok(store().Get(job.id()));
  EXPECT_THAT(saved.progress(), EqualsProto(progress));
  EXPECT_THAT(saved.update_time(), EqualsProto(Ts(clock_.Now())));
  EXPECT_EQ(saved.state(), kRunning);
  progress.set_seen(200);
  ASSERT_OK(store().SaveProgress(job.id(), "a", progress));
  EXPECT_THAT(Ok(store().Get(job.id())).progress(), EqualsProto(progress));
}

TEST_P(JobStoreContractTest, CompleteStoresTheResult) {
  const Job job = AddEvent();
  ClaimOne("a");
  SyncResult result;
  (*result.mutable_values()->mutable_fields())["appName"].set_string_value("Payroll");
  (*result.mutable_values()->mutable_fields())["appOwner"].set_number_value(3);
  auto* change = result.add_changes();
  change->set_field("appOwner");
  change->set_field_id(42);
  change->set_old_value("1");
  change->set_new_value("3");
  auto* created = result.add_created();
  created->set_app_id(7);
  created->set_record_id(99);
  created->set_match_value("Ann Lee");
  auto* warning = result.add_warnings();
  warning->set_code("EMPTY_REFERENCE");
  warning->set_field("l3");
  result.set_target_record_id(1001);
  result.set_written(true);
  result.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
  clock_.Advance(absl::Seconds(2));
  const Job done = Ok(store().Complete(job.id(), "a", result));
  EXPECT_EQ(done.state(), kSucceeded);
  EXPECT_THAT(done.result(), EqualsProto(result));
  EXPECT_THAT(done.end_time(), EqualsProto(Ts(clock_.Now())));
  EXPECT_THAT(done.update_time(), EqualsProto(Ts(clock_.Now())));
  EXPECT_EQ(done.attempts(), 1);
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(done));
  clock_.Advance(absl::Hours(1));
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// Fail
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, FailSchedulesTheNextAttempt) {
  const Job job = AddEvent();
  ClaimOne("a");
  clock_.Advance(absl::Seconds(1));
  const absl::Time retry_at = clock_.Now() + absl::Seconds(10);
  const Job failed =
      Ok(store().Fail(job.id(), "a", absl::UnavailableError("ServiceNow is down"), retry_at));
  EXPECT_EQ(failed.state(), kFailed);
  EXPECT_EQ(failed.attempts(), 1);
  EXPECT_EQ(failed.last_error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(failed.last_error().message(), "ServiceNow is down");
  EXPECT_THAT(failed.next_attempt_time(), EqualsProto(Ts(retry_at)));
  EXPECT_FALSE(failed.has_end_time());
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(failed));
  // The lease is gone: the owner's calls are ABORTED.
  EXPECT_THAT(store().Heartbeat(job.id(), "a", kLease), StatusIs(absl::StatusCode::kAborted));
}

TEST_P(JobStoreContractTest, FailOnTheLastAttemptIsDead) {
  NewJob request = Event();
  request.job.set_max_attempts(2);
  const Job job = Add(request);
  ClaimOne("a");
  ASSERT_OK(store().Fail(job.id(), "a", absl::UnavailableError("1"), clock_.Now()));
  EXPECT_EQ(ClaimOne("a").attempts(), 2);
  clock_.Advance(absl::Seconds(1));
  const Job dead =
      Ok(store().Fail(job.id(), "a", absl::UnavailableError("2"), clock_.Now() + absl::Seconds(1)));
  EXPECT_EQ(dead.state(), kDead);
  EXPECT_EQ(dead.last_error().message(), "2");
  EXPECT_THAT(dead.end_time(), EqualsProto(Ts(clock_.Now())));
  clock_.Advance(absl::Hours(1));
  EXPECT_THAT(Ok(store().ClaimNext("a", 10, kLease)), IsEmpty());
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(dead));
}

TEST_P(JobStoreContractTest, FailWithoutARetryTimeIsDeadAtOnce) {
  const Job job = AddEvent();
  ClaimOne("a");
  const Job dead = Ok(store().Fail(job.id(), "a", absl::NotFoundError("no row"), std::nullopt));
  EXPECT_EQ(dead.state(), kDead);
  EXPECT_EQ(dead.attempts(), 1);
  EXPECT_EQ(dead.last_error().code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_TRUE(dead.has_end_time());
}

TEST_P(JobStoreContractTest, FailWithAnOkStatusIsInvalidArgument) {
  const Job job = AddEvent();
  ClaimOne("a");
  const Job before = Ok(store().Get(job.id()));
  EXPECT_THAT(store().Fail(job.id(), "a", absl::OkStatus(), std::nullopt).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(before));
}

TEST_P(JobStoreContractTest, FailKeepsAnErrorMessageThatIsNotUtf8) {
  const Job job = AddEvent();
  ClaimOne("a");
  const Job failed = Ok(store().Fail(
      job.id(), "a", absl::UnavailableError("upstream said \xff\xfe bytes"), std::nullopt));
  EXPECT_THAT(failed.last_error().message(), HasSubstr("upstream said"));
  EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(failed));
}

// ---------------------------------------------------------------------------------------------
// Requeue and Cancel
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, RequeueOfADeadJobQueuesItWithNoAttempts) {
  const Job dead = InState(kDead);
  clock_.Advance(absl::Hours(2));
  const Job queued = Ok(store().Requeue(dead.id()));
  EXPECT_EQ(queued.state(), kQueued);
  EXPECT_EQ(queued.attempts(), 0);
  EXPECT_THAT(queued.last_error(), EqualsProto(dead.last_error()));
  EXPECT_THAT(queued.next_attempt_time(), EqualsProto(Ts(clock_.Now())));
  EXPECT_THAT(queued.update_time(), EqualsProto(Ts(clock_.Now())));
  EXPECT_FALSE(queued.has_end_time());
  EXPECT_THAT(Ok(store().Get(dead.id())), EqualsProto(queued));
  EXPECT_EQ(ClaimOne("a").attempts(), 1);
}

TEST_P(JobStoreContractTest, RequeueOfAFailedJobMakesItDueNow) {
  const Job failed = InState(kFailed);  // next attempt in an hour
  const Job queued = Ok(store().Requeue(failed.id()));
  EXPECT_EQ(queued.state(), kQueued);
  EXPECT_EQ(queued.attempts(), 0);
  EXPECT_EQ(ClaimOne("a").id(), failed.id());
}

TEST_P(JobStoreContractTest, RequeueOfAJobThatIsNotDeadOrFailedIsFailedPrecondition) {
  for (JobState state : {kQueued, kRunning, kSucceeded, kCancelled}) {
    const Job job = InState(state);
    EXPECT_THAT(store().Requeue(job.id()).status(), StatusIs(absl::StatusCode::kFailedPrecondition))
        << JobState_Name(state);
    EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(job));
    if (state == kQueued || state == kRunning) ASSERT_OK(store().Cancel(job.id()));
  }
  EXPECT_THAT(store().Requeue("j_00000000000000000000000000").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(JobStoreContractTest, RequeueOfADeadBatchWhileAnotherRunsIsAlreadyExists) {
  const Job dead = InState(kDead, Batch("apps"));
  const Job running = InState(kRunning, Batch("apps"));
  absl::StatusOr<Job> requeued = store().Requeue(dead.id());
  EXPECT_THAT(requeued.status(), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(std::string(requeued.status().message()), HasSubstr(running.id()));
  ASSERT_OK(store().Complete(running.id(), "setup", SyncResult()));
  EXPECT_EQ(Ok(store().Requeue(dead.id())).state(), kQueued);
}

TEST_P(JobStoreContractTest, CancelOfAQueuedOrFailedJob) {
  for (JobState state : {kQueued, kFailed}) {
    const Job job = InState(state);
    clock_.Advance(absl::Seconds(1));
    const Job cancelled = Ok(store().Cancel(job.id()));
    EXPECT_EQ(cancelled.state(), kCancelled);
    EXPECT_THAT(cancelled.end_time(), EqualsProto(Ts(clock_.Now())));
    EXPECT_THAT(cancelled.update_time(), EqualsProto(Ts(clock_.Now())));
    EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(cancelled));
  }
  clock_.Advance(absl::Hours(2));
  EXPECT_THAT(Ok(store().ClaimNext("a", 10, kLease)), IsEmpty());
}

TEST_P(JobStoreContractTest, CancelOfARunningJobAbortsItsWorker) {
  const Job job = AddEvent();
  ClaimOne("a");
  const Job cancelled = Ok(store().Cancel(job.id()));
  EXPECT_EQ(cancelled.state(), kCancelled);
  ExpectLeaseCallsAborted(store(), job.id(), "a");
  clock_.Advance(absl::Hours(1));  // the lease would have expired
  EXPECT_THAT(Ok(store().ClaimNext("b", 10, kLease)), IsEmpty());
  EXPECT_EQ(Ok(store().Get(job.id())).state(), kCancelled);
}

TEST_P(JobStoreContractTest, CancelOfAnEndedJobIsFailedPrecondition) {
  for (JobState state : {kSucceeded, kDead, kCancelled}) {
    const Job job = InState(state);
    EXPECT_THAT(store().Cancel(job.id()).status(), StatusIs(absl::StatusCode::kFailedPrecondition))
        << JobState_Name(state);
    EXPECT_THAT(Ok(store().Get(job.id())), EqualsProto(job));
  }
  EXPECT_THAT(store().Cancel("j_00000000000000000000000000").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(JobStoreContractTest, ReleaseAllLeasesMakesEveryRunningJobClaimableNow) {
  const Job failed = InState(kFailed);  // due in an hour: stays so
  const Job a = AddEvent();
  const Job b = AddEvent();
  ASSERT_THAT(Ok(store().ClaimNext("old", 10, absl::Hours(1))), SizeIs(2));
  const Job waiting = AddEvent();
  ASSERT_OK(store().ReleaseAllLeases());
  EXPECT_THAT(Ok(store().Get(a.id())).state(), kRunning);
  const std::vector<Job> claimed = Ok(store().ClaimNext("new", 10, kLease));
  EXPECT_THAT(Ids(claimed), ElementsAre(a.id(), b.id(), waiting.id()));
  for (const Job& job : claimed) EXPECT_EQ(job.attempts(), job.id() == waiting.id() ? 1 : 2);
  ExpectLeaseCallsAborted(store(), a.id(), "old");
  EXPECT_EQ(Ok(store().Get(failed.id())).state(), kFailed);
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, ListIsNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(AddEvent().id());
    clock_.Advance(absl::Seconds(1));
  }
  for (int i = 0; i < 3; ++i) ids.push_back(AddEvent().id());  // one instant
  std::reverse(ids.begin(), ids.end());
  EXPECT_EQ(Ids(ListAll()), ids);
}

TEST_P(JobStoreContractTest, ListFiltersByStateProfileAndCreationTime) {
  const absl::Time t0 = clock_.Now();
  const Job dead = InState(kDead, Event("apps"));
  clock_.Advance(absl::Seconds(10));
  const Job failed = InState(kFailed, Event("users"));  // due in an hour
  clock_.Advance(absl::Seconds(10));
  const Job succeeded = InState(kSucceeded, Event("users"));
  clock_.Advance(absl::Seconds(10));
  const Job queued = AddEvent("apps");
  const Job batch = Add(Batch("apps"));

  ListQuery by_state;
  by_state.states = {kQueued};
  EXPECT_THAT(Ids(ListAll(by_state)), ElementsAre(batch.id(), queued.id()));
  by_state.states = {kDead, kFailed, kDead};
  EXPECT_THAT(Ids(ListAll(by_state)), ElementsAre(failed.id(), dead.id()));

  ListQuery by_profile;
  by_profile.profile = "users";
  EXPECT_THAT(Ids(ListAll(by_profile)), ElementsAre(succeeded.id(), failed.id()));
  by_profile.profile = "nobody";
  EXPECT_THAT(ListAll(by_profile), IsEmpty());

  ListQuery by_time;  // after: inclusive; before: exclusive
  by_time.created_after = t0 + absl::Seconds(10);
  by_time.created_before = t0 + absl::Seconds(30);
  EXPECT_THAT(Ids(ListAll(by_time)), ElementsAre(succeeded.id(), failed.id()));
  by_time.created_after = t0 + absl::Seconds(10) + absl::Nanoseconds(1);
  EXPECT_THAT(Ids(ListAll(by_time)), ElementsAre(succeeded.id()));
  by_time.created_after = std::nullopt;
  by_time.created_before = t0 + absl::Seconds(30) + absl::Nanoseconds(1);
  EXPECT_THAT(Ids(ListAll(by_time)),
              ElementsAre(batch.id(), queued.id(), succeeded.id(), failed.id(), dead.id()));

  ListQuery combined;
  combined.states = {kQueued, kDead};
  combined.profile = "apps";
  combined.created_after = t0 + absl::Seconds(1);
  EXPECT_THAT(Ids(ListAll(combined)), ElementsAre(batch.id(), queued.id()));
}

TEST_P(JobStoreContractTest, ListPagesThrough120JobsWithoutDuplicatesOrGaps) {
  for (int i = 0; i < 120; ++i) {
    AddEvent(i % 3 == 0 ? "users" : "apps");
    // Runs of four jobs in one instant: pages must split ties on the id.
    if (i % 4 == 3) clock_.Advance(absl::Milliseconds(1));
  }
  const std::vector<Job> all = ListAll();
  ASSERT_THAT(all, SizeIs(120));

  std::vector<Job> paged;
  std::vector<size_t> sizes;
  ListQuery query;
  query.page_size = 50;
  do {
    ListPage page = Ok(store().List(query));
    sizes.push_back(page.jobs.size());
    paged.insert(paged.end(), page.jobs.begin(), page.jobs.end());
    query.page_token = page.next_page_token;
    ASSERT_LE(sizes.size(), 5u);
  } while (!query.page_token.empty());
  EXPECT_THAT(sizes, ElementsAre(50, 50, 20));
  EXPECT_EQ(Ids(paged), Ids(all));

  // With a filter, a page size that does not divide, and jobs arriving between pages (newer:
  // they are not on later pages).
  ListQuery users;
  users.profile = "users";
  users.page_size = 7;
  std::vector<std::string> user_ids;
  do {
    ListPage page = Ok(store().List(users));
    for (const Job& job : page.jobs) user_ids.push_back(job.id());
    users.page_token = page.next_page_token;
    AddEvent("users");
  } while (!users.page_token.empty());
  ListQuery expected_users;
  expected_users.profile = "users";
  expected_users.created_before = TimeOf(all.front().create_time()) + absl::Microseconds(1);
  EXPECT_EQ(user_ids, Ids(ListAll(expected_users)));
  EXPECT_THAT(user_ids, SizeIs(40));
}

TEST_P(JobStoreContractTest, ListPageSizeIs1To500And0MeansTheDefault) {
  for (int i = 0; i < 60; ++i) AddEvent();
  ListQuery query;
  query.page_size = 0;
  ListPage page = Ok(store().List(query));
  EXPECT_THAT(page.jobs, SizeIs(50));
  EXPECT_THAT(page.next_page_token, Not(IsEmpty()));
  query.page_size = 1;
  EXPECT_THAT(Ok(store().List(query)).jobs, SizeIs(1));
  query.page_size = 60;
  page = Ok(store().List(query));
  EXPECT_THAT(page.jobs, SizeIs(60));
  EXPECT_THAT(page.next_page_token, IsEmpty());
  query.page_size = 500;
  EXPECT_THAT(Ok(store().List(query)).jobs, SizeIs(60));
  for (int bad : {501, -1, 100000}) {
    query.page_size = bad;
    EXPECT_THAT(store().List(query).status(), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST_P(JobStoreContractTest, ListWithAMalformedPageTokenIsInvalidArgument) {
  for (int i = 0; i < 3; ++i) AddEvent();
  ListQuery query;
  query.page_size = 1;
  const std::string good = Ok(store().List(query)).next_page_token;
  ASSERT_THAT(good, Not(IsEmpty()));
  for (const std::string& bad :
       {std::string("not a token!"), std::string("%%%"), absl::WebSafeBase64Escape("x"),
        absl::WebSafeBase64Escape("12:j_short"), absl::WebSafeBase64Escape("abc:j_0123"),
        good.substr(0, good.size() / 2), good + "AAAA", std::string(10000, 'A')}) {
    query.page_token = bad;
    EXPECT_THAT(store().List(query).status(), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  query.page_token = good;
  EXPECT_THAT(Ok(store().List(query)).jobs, SizeIs(1));
}

TEST_P(JobStoreContractTest, ListOfAnUnknownStateIsInvalidArgument) {
  ListQuery query;
  query.states = {onsync::v1::JOB_STATE_UNSPECIFIED};
  EXPECT_THAT(store().List(query).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  query.states = {static_cast<JobState>(42)};
  EXPECT_THAT(store().List(query).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------------------------
// Watermarks and persistence
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, WatermarksArePerProfile) {
  EXPECT_EQ(Ok(store().GetWatermark("apps")), std::nullopt);
  ASSERT_OK(store().SetWatermark("apps", "2024-05-01 10:00:00"));
  EXPECT_EQ(Ok(store().GetWatermark("apps")), "2024-05-01 10:00:00");
  ASSERT_OK(store().SetWatermark("apps", "2024-05-02 11:00:00"));
  ASSERT_OK(store().SetWatermark("users", ""));
  EXPECT_EQ(Ok(store().GetWatermark("apps")), "2024-05-02 11:00:00");
  EXPECT_EQ(Ok(store().GetWatermark("users")), "");
  EXPECT_EQ(Ok(store().GetWatermark("nobody")), std::nullopt);
}

TEST_P(JobStoreContractTest, EverythingSurvivesAReopen) {
  const Job batch = InState(kRunning, Batch("apps"));
  BatchProgress progress;
  progress.set_seen(10);
  progress.set_cursor_sys_id("abc");
  ASSERT_OK(store().SaveProgress(batch.id(), "setup", progress));
  clock_.Advance(absl::Seconds(1));
  InState(kFailed);
  InState(kDead);
  InState(kCancelled);
  SyncResult result;
  result.set_target_record_id(5);
  {
    const Job job = InState(kRunning);
    ASSERT_OK(store().Complete(job.id(), "setup", result));
  }
  clock_.Advance(absl::Seconds(1));
  NewJob deduped = Event("apps", "k");
  deduped.dedupe_key = "request-1";
  const Job queued = Add(deduped);
  ASSERT_OK(store().SetWatermark("apps", "2024-05-01 10:00:00"));
  const std::vector<Job> before = ListAll();
  ASSERT_THAT(before, SizeIs(6));

  Reopen();
  const std::vector<Job> after = ListAll();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_THAT(after[i], EqualsProto(before[i]));
  EXPECT_THAT(Ok(store().Get(batch.id())).progress(), EqualsProto(progress));
  EXPECT_EQ(Ok(store().GetWatermark("apps")), "2024-05-01 10:00:00");
  EnqueueResult again = Ok(store().Enqueue(deduped));
  EXPECT_TRUE(again.deduplicated);
  EXPECT_EQ(again.job.id(), queued.id());
  // The lease survived too: the batch's owner may still heartbeat; nobody else claims it.
  EXPECT_OK(store().Heartbeat(batch.id(), "setup", kLease));
  EXPECT_THAT(Ids(Ok(store().ClaimNext("new", 10, kLease))), ElementsAre(queued.id()));
  ASSERT_OK(store().ReleaseAllLeases());
  EXPECT_THAT(Ids(Ok(store().ClaimNext("new", 10, kLease))), ElementsAre(batch.id(), queued.id()));
}

// ---------------------------------------------------------------------------------------------
// Counts for metrics
// ---------------------------------------------------------------------------------------------

TEST_P(JobStoreContractTest, CountByStateAndQueueOfAnEmptyStore) {
  EXPECT_THAT(Ok(store().CountByState()), IsEmpty());
  const QueueStats queue = Ok(store().Queue());
  EXPECT_EQ(queue.depth, 0);
  EXPECT_EQ(queue.oldest_due, std::nullopt);
}

TEST_P(JobStoreContractTest, CountByStateCountsEveryStateAndQueueOnlyDueJobs) {
  // The states reached through claims first: InState claims every due job.
  InState(kRunning);
  InState(kSucceeded);
  InState(kFailed);  // due in an hour
  InState(kDead);
  InState(kCancelled);
  InState(kCancelled);
  const absl::Time first_queued = clock_.Now();
  AddEvent();
  clock_.Advance(absl::Seconds(10));
  AddEvent();

  const std::map<JobState, int64_t> counts = Ok(store().CountByState());
  EXPECT_THAT(counts, ElementsAre(Pair(kQueued, 2), Pair(kRunning, 1), Pair(kSucceeded, 1),
                                  Pair(kFailed, 1), Pair(kDead, 1), Pair(kCancelled, 2)));
  QueueStats queue = Ok(store().Queue());
  EXPECT_EQ(queue.depth, 2);
  EXPECT_EQ(queue.oldest_due, first_queued);

  // The FAILED job's retry comes due.
  clock_.Advance(absl::Hours(1));
  queue = Ok(store().Queue());
  EXPECT_EQ(queue.depth, 3);
  EXPECT_EQ(queue.oldest_due, first_queued);

  std::vector<Job> claimed = Ok(store().ClaimNext("worker", 10, kLease));
  // The two queued jobs, the failed one, and the running one whose lease ended.
  EXPECT_THAT(claimed, SizeIs(4));
  EXPECT_EQ(Ok(store().Queue()).depth, 0);
  EXPECT_THAT(Ok(store().CountByState()), Contains(Pair(kRunning, 4)));
}

INSTANTIATE_TEST_SUITE_P(Stores, JobStoreContractTest,
                         testing::Values(SqliteFactory(), PostgresFactory()),
                         [](const testing::TestParamInfo<StoreFactory>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// The SQLite store's file
// ---------------------------------------------------------------------------------------------

// Runs `sql` on the file with a plain connection; returns the first column of the first row.
std::string Raw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string value;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) ==
      SQLITE_OK) {
    sqlite3_exec(
        db, sql.c_str(),
        [](void* out, int columns, char** values, char**) {
          auto* value = static_cast<std::string*>(out);
          if (value->empty() && columns > 0 && values[0] != nullptr) *value = values[0];
          return 0;
        },
        &value, nullptr);
  }
  sqlite3_close_v2(db);
  return value;
}

class SqliteJobStoreFileTest : public testing::Test {
 protected:
  std::string path() const { return dir_.path() + "/jobs.db"; }

  absl::StatusOr<std::unique_ptr<SqliteJobStore>> Open() {
    return SqliteJobStore::Open(path(), clock_);
  }

  FakeClock clock_;
  TempDir dir_;
};

TEST_F(SqliteJobStoreFileTest, TheFileIsAPrivateWalDatabaseWithTheSchemaVersion) {
  {
    auto store = Open();
    ASSERT_OK(store);
    ASSERT_OK((*store)->Enqueue(NewJob{.job = [] {
      Job job;
      job.set_profile("apps");
      job.set_kind(onsync::v1::JOB_KIND_EVENT);
      return job;
    }()}));
  }
  struct stat info {};
  ASSERT_EQ(stat(path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(Raw(path(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(Raw(path(), "PRAGMA user_version"), std::to_string(SqliteJobStore::kSchemaVersion));
  EXPECT_EQ(Raw(path(), "SELECT count(*) FROM jobs"), "1");
  // Reopened, the version is kept (nothing migrates twice) and the job is there.
  {
    auto store = Open();
    ASSERT_OK(store);
    EXPECT_THAT(Ok((*store)->List(ListQuery())).jobs, SizeIs(1));
  }
  EXPECT_EQ(Raw(path(), "PRAGMA user_version"), std::to_string(SqliteJobStore::kSchemaVersion));
}

TEST_F(SqliteJobStoreFileTest, ADatabaseWithANewerSchemaIsRefused) {
  ASSERT_OK(Open());
  Raw(path(), absl::StrCat("PRAGMA user_version = ", SqliteJobStore::kSchemaVersion + 1));
  auto store = Open();
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("schema version"));
  // Untouched.
  EXPECT_EQ(Raw(path(), "PRAGMA user_version"), std::to_string(SqliteJobStore::kSchemaVersion + 1));
}

TEST_F(SqliteJobStoreFileTest, ADatabaseOfAnotherProgramIsRefused) {
  Raw(path(), "CREATE TABLE accounts (id INTEGER)");
  EXPECT_THAT(Open().status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Raw(path(), "SELECT count(*) FROM sqlite_schema"), "1");
}

TEST_F(SqliteJobStoreFileTest, AFileThatIsNotADatabaseOrCannotBeOpenedIsUnavailable) {
  {
    std::ofstream out(path());
    out << std::string(4096, 'x');
  }
  EXPECT_THAT(Open().status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteJobStore::Open(dir_.path() + "/missing/jobs.db", clock_).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(SqliteJobStore::Open("", clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SqliteJobStoreFileTest, ASecondStoreInThisProcessIsRefusedUntilTheFirstCloses) {
  ASSERT_OK(Open());  // an existing file: the lock is taken at Open, not at the first write
  auto first = Open();
  ASSERT_OK(first);
  auto second = Open();
  EXPECT_THAT(second.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("is in use by another process"));
  first->reset();
  EXPECT_OK(Open());
}

// The child is forked while this process has no SQLite connection open and no other thread (so
// it starts from a clean SQLite), waits until the parent holds the file, and tries to open it.
TEST_F(SqliteJobStoreFileTest, ASecondOpenFromAnotherProcessIsFailedPrecondition) {
  ASSERT_OK(Open());  // an existing file: the lock is taken at Open, not at the first write
  int to_child[2];
  int from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(to_child[1]);
    close(from_child[0]);
    char go = 0;
    std::string report = "no go";
    if (read(to_child[0], &go, 1) == 1) {
      FakeClock clock;
      auto store = SqliteJobStore::Open(path(), clock);
      report = store.ok() ? std::string("OK")
                          : absl::StrCat(static_cast<int>(store.status().code()), " ",
                                         store.status().message());
    }
    const ssize_t ignored = write(from_child[1], report.data(), report.size());
    (void)ignored;
    _exit(0);
  }
  close(to_child[0]);
  close(from_child[1]);
  std::string report;
  {
    auto store = Open();
    EXPECT_OK(store);
    if (store.ok()) {
      EXPECT_EQ(write(to_child[1], "g", 1), 1);
    }
    close(to_child[1]);  // without a "g", the child stops
    char buffer[512];
    ssize_t n = 0;
    while ((n = read(from_child[0], buffer, sizeof buffer)) > 0) report.append(buffer, n);
    close(from_child[0]);
  }
  int wait_status = 0;
  ASSERT_EQ(waitpid(pid, &wait_status, 0), pid);
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
  EXPECT_THAT(report, testing::StartsWith(absl::StrCat(
                          static_cast<int>(absl::StatusCode::kFailedPrecondition), " ")));
  EXPECT_THAT(report, HasSubstr("is in use by another process"));
  // Once the parent's store is closed, the file opens again.
  EXPECT_OK(Open());
}

TEST(SqliteJobStoreMemoryTest, AnInMemoryStoreWorks) {
  FakeClock clock;
  auto store = SqliteJobStore::Open(":memory:", clock);
  ASSERT_OK(store);
  NewJob request;
  request.job.set_profile("apps");
  request.job.set_kind(onsync::v1::JOB_KIND_EVENT);
  const Job job = Ok((*store)->Enqueue(request)).job;
  std::vector<Job> claimed = Ok((*store)->ClaimNext("w", 1, kLease));
  ASSERT_THAT(claimed, SizeIs(1));
  EXPECT_EQ(claimed[0].id(), job.id());
}

}  // namespace
}  // namespace onsync::jobs
