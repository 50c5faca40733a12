// The PostgreSQL job store's own behaviour, beyond the JobStore contract (which
// job_store_contract_test.cc runs against it): several stores on one database act as replicas
// (claims, leases, create-once), NOTIFY wakes idle workers of every replica, a store replaces
// connections that the server ended, migrations run once when replicas start together, and
// errors never show the DSN. Each test works in a fresh schema of the database that
// ONSYNC_TEST_PG_DSN names (scripts/test.sh starts one); without it every test fails, saying how to
// run them.
#include "server/jobs/postgres_job_store.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"
#include "server/jobs/worker_pool.h"
#include "tests/server/jobs/postgres_test_support.h"

namespace onsync::jobs {
namespace {

using ::onsync::v1::Job;
using ::onsync::v1::SyncResult;
using postgres_testing::SqlConnection;
using postgres_testing::TestSchema;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// How long a test waits for something that normally takes milliseconds before it fails.
constexpr absl::Duration kPatience = absl::Seconds(30);

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

 private:
  mutable std::mutex mu_;
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

MATCHER_P(StatusIs, code, "") {
  if (arg.code() == code) return true;
  *result_listener << "status " << arg;
  return false;
}

NewJob Event(std::string key, std::string dedupe_key = "") {
  NewJob request;
  request.job.set_profile("apps");
  request.job.set_kind(onsync::v1::JOB_KIND_EVENT);
  request.job.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
  request.job.mutable_trigger()->set_key(std::move(key));
  request.dedupe_key = std::move(dedupe_key);
  return request;
}

NewJob Batch() {
  NewJob request;
  request.job.set_profile("apps");
  request.job.set_kind(onsync::v1::JOB_KIND_BATCH);
  request.job.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
  request.job.mutable_batch()->set_full(true);
  return request;
}

// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return 1;
  }
  close(fd);
  return ntohs(address.sin_port);
}

// Polls `condition` until it holds or `kPatience` passed; true when it held.
template <typename Condition>
bool Eventually(Condition condition) {
  const absl::Time give_up = absl::Now() + kPatience;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

class PostgresJobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestSchema>> schema = TestSchema::Create();
    ASSERT_TRUE(schema.ok()) << schema.status().message();
    schema_ = *std::move(schema);
  }

  // A store on the test schema: another "replica" each time.
  std::unique_ptr<PostgresJobStore> OpenReplica(const clients::Clock& clock, int pool_size = 4) {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> store =
        PostgresJobStore::Open({.dsn = schema_->dsn(), .pool_size = pool_size}, clock);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // The store's connections (pool and LISTEN), by their application_name.
  int StoreConnections() {
    absl::StatusOr<std::string> count =
        schema_->sql().Value("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                             {schema_->application_name()});
    EXPECT_TRUE(count.ok()) << count.status();
    return count.ok() ? std::stoi(*count) : -1;
  }

  // Ends every connection of the test's stores from the server's side, as a restart does, and
  // waits until they are gone.
  void TerminateStoreConnections() {
    absl::StatusOr<std::string> terminated = schema_->sql().Value(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1",
        {schema_->application_name()});
    ASSERT_TRUE(terminated.ok()) << terminated.status();
    ASSERT_GT(std::stoi(*terminated), 0);
    ASSERT_TRUE(Eventually([&] { return StoreConnections() == 0; }));
  }

  FakeClock clock_;
  std::unique_ptr<TestSchema> schema_;
};

// ---------------------------------------------------------------------------------------------
// Replicas
// ---------------------------------------------------------------------------------------------

TEST_F(PostgresJobStoreTest, TwoReplicasClaimingConcurrentlyNeverClaimTheSameJob) {
  constexpr int kInitial = 200;
  constexpr int kLater = 100;
  constexpr int kClaimersPerReplica = 4;
  std::unique_ptr<PostgresJobStore> replicas[] = {OpenReplica(clock_), OpenReplica(clock_)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  for (int i = 0; i < kInitial; ++i) {
    ASSERT_TRUE(replicas[i % 2]->Enqueue(Event(absl::StrCat("initial ", i))).ok());
  }

  std::atomic<bool> enqueuing{true};
  std::vector<std::vector<std::string>> claimed(2 * kClaimersPerReplica);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < kLater; ++i) {
      EXPECT_TRUE(replicas[i % 2]->Enqueue(Event(absl::StrCat("later ", i))).ok());
    }
    enqueuing = false;
  });
  for (int t = 0; t < 2 * kClaimersPerReplica; ++t) {
    threads.emplace_back([&, t] {
      PostgresJobStore& store = *replicas[t % 2];
      const std::string owner = absl::StrCat("replica-", t % 2, ":worker-", t);
      while (true) {
        const bool last_round = !enqueuing;
        absl::StatusOr<std::vector<Job>> jobs = store.ClaimNext(owner, 3, absl::Hours(1));
        if (!jobs.ok()) {
          ADD_FAILURE() << jobs.status();
          return;
        }
        for (const Job& job : *jobs) {
          claimed[t].push_back(job.id());
          EXPECT_TRUE(store.Complete(job.id(), owner, SyncResult()).ok());
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
  EXPECT_EQ(schema_->sql().Value("SELECT count(*) FROM jobs WHERE state = 3").value_or(""),
            std::to_string(kInitial + kLater));
}

TEST_F(PostgresJobStoreTest, AnExpiredLeaseIsTakenOverByAnotherReplica) {
  std::unique_ptr<PostgresJobStore> a = OpenReplica(clock_);
  std::unique_ptr<PostgresJobStore> b = OpenReplica(clock_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const Job job = a->Enqueue(Event("k")).value().job;
  ASSERT_THAT(a->ClaimNext("replica-a", 1, absl::Seconds(30)).value(), SizeIs(1));
  // While the lease lasts, the other replica finds nothing.
  clock_.Advance(absl::Seconds(29));
  EXPECT_THAT(b->ClaimNext("replica-b", 10, absl::Seconds(30)).value(), IsEmpty());
  // Once it ended (replica a died), b takes the job over; a's late calls are ABORTED.
  clock_.Advance(absl::Seconds(1));
  const std::vector<Job> taken = b->ClaimNext("replica-b", 10, absl::Seconds(30)).value();
  ASSERT_THAT(taken, SizeIs(1));
  EXPECT_EQ(taken[0].id(), job.id());
  EXPECT_EQ(taken[0].attempts(), 2);
  EXPECT_THAT(a->Complete(job.id(), "replica-a", SyncResult()).status(),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(b->Complete(job.id(), "replica-b", SyncResult()).value().state(),
            onsync::v1::JOB_STATE_SUCCEEDED);
}

TEST_F(PostgresJobStoreTest, ReplicasEnqueuingAtOnceStoreOneJobPerKeyAndOneBatchRunPerProfile) {
  constexpr int kThreadsPerReplica = 4;
  std::unique_ptr<PostgresJobStore> replicas[] = {OpenReplica(clock_), OpenReplica(clock_)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  std::mutex mu;
  std::set<std::string> event_ids;
  int events_stored = 0;
  int batches_stored = 0;
  int batches_refused = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    threads.emplace_back([&, t] {
      PostgresJobStore& store = *replicas[t % 2];
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<EnqueueResult> event =
            store.Enqueue(Event(absl::StrCat("thread ", t), "the-one-key"));
        absl::StatusOr<EnqueueResult> batch = store.Enqueue(Batch());
        std::lock_guard<std::mutex> lock(mu);
        if (event.ok()) {
          event_ids.insert(event->job.id());
          if (!event->deduplicated) ++events_stored;
        } else {
          ADD_FAILURE() << event.status();
        }
        if (batch.ok()) {
          ++batches_stored;
        } else if (batch.status().code() == absl::StatusCode::kAlreadyExists) {
          ++batches_refused;
        } else {
          ADD_FAILURE() << batch.status();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(event_ids.size(), 1u);
  EXPECT_EQ(events_stored, 1);
  EXPECT_EQ(batches_stored, 1);
  EXPECT_EQ(batches_refused, 2 * kThreadsPerReplica * 10 - 1);
  EXPECT_EQ(schema_->sql().Value("SELECT count(*) FROM jobs").value_or(""), "2");
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

TEST_F(PostgresJobStoreTest, AnEnqueueOnAnotherReplicaWakesAWaitingStore) {
  std::unique_ptr<PostgresJobStore> waiter = OpenReplica(clock_);
  std::unique_ptr<PostgresJobStore> other = OpenReplica(clock_);
  ASSERT_NE(waiter, nullptr);
  ASSERT_NE(other, nullptr);
  // Nothing was enqueued: a short wait ends without a wake-up.
  EXPECT_EQ(waiter->WaitForWork(absl::Milliseconds(50)).value_or(true), false);

  std::optional<absl::StatusOr<bool>> woken;
  std::thread waiting([&] { woken = waiter->WaitForWork(kPatience); });
  ASSERT_TRUE(other->Enqueue(Event("k")).ok());
  waiting.join();
  ASSERT_TRUE(woken.has_value());
  ASSERT_TRUE(woken->ok()) << woken->status();
  EXPECT_TRUE(**woken) << "no wake-up within " << kPatience;

  // A requeue wakes it too.
  const Job job = other->ClaimNext("w", 1, absl::Seconds(30)).value().at(0);
  ASSERT_TRUE(other->Fail(job.id(), "w", absl::NotFoundError("gone"), std::nullopt).ok());
  while (waiter->WaitForWork(absl::ZeroDuration()).value_or(false)) {
  }
  ASSERT_TRUE(other->Requeue(job.id()).ok());
  EXPECT_TRUE(waiter->WaitForWork(kPatience).value_or(false));
}

// Forwards to a store and tells when a ClaimNext found nothing (a worker about to wait).
class ObservedStore final : public JobStore {
 public:
  explicit ObservedStore(JobStore& store) : store_(store) {}

  // Blocks until `n` claims in all found nothing.
  bool WaitForEmptyClaims(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, absl::ToChronoNanoseconds(kPatience),
                             [&] { return empty_claims_ >= n; });
  }

  absl::StatusOr<std::vector<Job>> ClaimNext(std::string_view owner, int max,
                                             absl::Duration lease) override {
    absl::StatusOr<std::vector<Job>> claimed = store_.ClaimNext(owner, max, lease);
    if (claimed.ok() && claimed->empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++empty_claims_;
      changed_.notify_all();
    }
    return claimed;
  }
  absl::StatusOr<EnqueueResult> Enqueue(NewJob job) override {
    return store_.Enqueue(std::move(job));
  }
  absl::StatusOr<Job> Get(std::string_view id) override { return store_.Get(id); }
  absl::StatusOr<ListPage> List(const ListQuery& query) override { return store_.List(query); }
  absl::Status Heartbeat(std::string_view id, std::string_view owner,
                         absl::Duration lease) override {
    return store_.Heartbeat(id, owner, lease);
  }
  absl::Status SaveProgress(std::string_view id, std::string_view owner,
                            const onsync::v1::BatchProgress& progress) override {
    return store_.SaveProgress(id, owner, progress);
  }
  absl::StatusOr<Job> Complete(std::string_view id, std::string_view owner,
                               const SyncResult& result) override {
    return store_.Complete(id, owner, result);
  }
  absl::StatusOr<Job> Fail(std::string_view id, std::string_view owner, const absl::Status& error,
                           std::optional<absl::Time> retry_at) override {
    return store_.Fail(id, owner, error, retry_at);
  }
  absl::StatusOr<Job> Requeue(std::string_view id) override { return store_.Requeue(id); }
  absl::StatusOr<Job> Cancel(std::string_view id) override { return store_.Cancel(id); }
  absl::Status ReleaseAllLeases() override { return store_.ReleaseAllLeases(); }
  absl::StatusOr<std::optional<std::string>> GetWatermark(std::string_view profile) override {
    return store_.GetWatermark(profile);
  }
  absl::Status SetWatermark(std::string_view profile, std::string_view watermark) override {
    return store_.SetWatermark(profile, watermark);
  }
  absl::StatusOr<std::map<onsync::v1::JobState, int64_t>> CountByState() override {
    return store_.CountByState();
  }
  absl::StatusOr<QueueStats> Queue() override { return store_.Queue(); }
  absl::StatusOr<bool> WaitForWork(absl::Duration max_wait) override {
    return store_.WaitForWork(max_wait);
  }

 private:
  JobStore& store_;
  std::mutex mu_;
  std::condition_variable changed_;
  int empty_claims_ = 0;  // guarded by mu_
};

class RecordingRunner final : public JobRunner {
 public:
  absl::StatusOr<SyncResult> RunAttempt(const Job& job, AttemptContext& context) override {
    std::lock_guard<std::mutex> lock(mu_);
    ran_.push_back(job.id());
    if (!ran_any_.HasBeenNotified()) ran_any_.Notify();
    return SyncResult();
  }
  absl::Notification& ran_any() { return ran_any_; }

 private:
  std::mutex mu_;
  std::vector<std::string> ran_;  // guarded by mu_
  absl::Notification ran_any_;
};

TEST_F(PostgresJobStoreTest, IdleWorkersClaimAJobThatAnotherReplicaEnqueuedWithoutPolling) {
  std::unique_ptr<PostgresJobStore> this_replica = OpenReplica(clients::RealClock());
  std::unique_ptr<PostgresJobStore> other = OpenReplica(clients::RealClock());
  ASSERT_NE(this_replica, nullptr);
  ASSERT_NE(other, nullptr);
  ObservedStore observed(*this_replica);
  RecordingRunner runner;
  WorkerOptions options;
  options.workers = 2;
  // Polling alone would find the job in an hour.
  options.poll_interval = absl::Hours(1);
  WorkerPool pool(observed, runner, clients::RealClock(), options);
  pool.Start();
  // Both workers looked, found nothing, and wait.
  ASSERT_TRUE(observed.WaitForEmptyClaims(options.workers));

  const Job job = other->Enqueue(Event("k")).value().job;
  EXPECT_TRUE(runner.ran_any().WaitForNotificationWithTimeout(kPatience))
      << "the notification did not wake a worker";
  ASSERT_TRUE(Eventually(
      [&] { return other->Get(job.id()).value().state() == onsync::v1::JOB_STATE_SUCCEEDED; }));
  pool.Stop(absl::Seconds(5));
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

TEST_F(PostgresJobStoreTest, ConnectionsThatTheServerEndedAreReplacedOnTheirNextUse) {
  std::unique_ptr<PostgresJobStore> store = OpenReplica(clock_, /*pool_size=*/2);
  std::unique_ptr<PostgresJobStore> other = OpenReplica(clock_);
  ASSERT_NE(store, nullptr);
  ASSERT_NE(other, nullptr);
  const Job job = store->Enqueue(Event("before")).value().job;
  EXPECT_TRUE(store->WaitForWork(kPatience).value_or(false));  // the enqueue's own notification
  // The pool's connection and the LISTEN one (of both stores: one application_name).
  ASSERT_GE(StoreConnections(), 2);

  TerminateStoreConnections();

  // The pool's connections are replaced: calls work as before.
  absl::StatusOr<Job> got = store->Get(job.id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id(), job.id());
  ASSERT_TRUE(store->Enqueue(Event("after")).ok());
  EXPECT_THAT(store->ClaimNext("w", 10, absl::Seconds(30)).value(), SizeIs(2));
  // The LISTEN connection too: the first wait reconnects it and says "look" (notifications were
  // lost meanwhile); later ones wake on notifications again.
  absl::StatusOr<bool> relistened = store->WaitForWork(kPatience);
  ASSERT_TRUE(relistened.ok()) << relistened.status();
  EXPECT_TRUE(*relistened);
  while (store->WaitForWork(absl::ZeroDuration()).value_or(false)) {
  }
  std::optional<absl::StatusOr<bool>> woken;
  std::thread waiting([&] { woken = store->WaitForWork(kPatience); });
  ASSERT_TRUE(other->Enqueue(Event("wake")).ok());
  waiting.join();
  ASSERT_TRUE(woken.has_value() && woken->ok());
  EXPECT_TRUE(**woken);
}

TEST_F(PostgresJobStoreTest, CallsAreUnavailableWhileNoConnectionCanBeMadeAndWorkAgainAfter) {
  // A database of its own, so that connections to it can be refused for a while.
  const std::string database = absl::StrCat(schema_->name(), "_db");
  ASSERT_TRUE(schema_->sql().Query(absl::StrCat("CREATE DATABASE ", database)).ok());
  const std::string dsn =
      postgres_testing::DsnWith(
          postgres_testing::TestDsn().value(),
          {{"dbname", database}, {"application_name", schema_->application_name()}})
          .value();
  {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> store =
        PostgresJobStore::Open({.dsn = dsn, .pool_size = 2}, clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    const Job job = (*store)->Enqueue(Event("k")).value().job;
    // The enqueue's own notification.
    EXPECT_TRUE((*store)->WaitForWork(kPatience).value_or(false));

    ASSERT_TRUE(schema_->sql()
                    .Query(absl::StrCat("ALTER DATABASE ", database, " ALLOW_CONNECTIONS false"))
                    .ok());
    TerminateStoreConnections();
    absl::StatusOr<Job> refused = (*store)->Get(job.id());
    EXPECT_THAT(refused.status(), StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT(std::string(refused.status().message()), Not(HasSubstr(dsn)));
    EXPECT_THAT((*store)->Enqueue(Event("k2")).status(), StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_THAT((*store)->WaitForWork(absl::Milliseconds(10)).status(),
                StatusIs(absl::StatusCode::kUnavailable));

    ASSERT_TRUE(schema_->sql()
                    .Query(absl::StrCat("ALTER DATABASE ", database, " ALLOW_CONNECTIONS true"))
                    .ok());
    absl::StatusOr<Job> again = (*store)->Get(job.id());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->id(), job.id());
    EXPECT_TRUE((*store)->WaitForWork(kPatience).value_or(false));  // reconnected: "look"
  }
  EXPECT_TRUE(schema_->sql().Query(absl::StrCat("DROP DATABASE ", database, " WITH (FORCE)")).ok());
}

TEST_F(PostgresJobStoreTest, OpenErrorsAreClearAndNeverShowTheDsn) {
  const std::string secret = "hunter2-not-for-logs";
  // Not a connection string.
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> malformed = PostgresJobStore::Open(
      {.dsn = absl::StrCat("host=127.0.0.1 password=", secret, " bogus")}, clock_);
  EXPECT_THAT(malformed.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(malformed.status().message()), Not(HasSubstr(secret)));
  // Nobody listens there.
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> unreachable = PostgresJobStore::Open(
      {.dsn = absl::StrCat("host=127.0.0.1 port=", UnusedPort(), " user=onsync password=", secret,
                           " dbname=onsync")},
      clock_);
  EXPECT_THAT(unreachable.status(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(unreachable.status().message()), Not(HasSubstr(secret)));
  EXPECT_THAT(std::string(unreachable.status().message()), HasSubstr("cannot connect"));
  // A search_path without a schema that exists.
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> no_schema = PostgresJobStore::Open(
      {.dsn = postgres_testing::DsnWith(postgres_testing::TestDsn().value(),
                                        {{"options", "-c search_path=no_such_schema"}})
                  .value()},
      clock_);
  EXPECT_THAT(no_schema.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(no_schema.status().message()), HasSubstr("search_path"));
  // Nonsense options.
  EXPECT_THAT(PostgresJobStore::Open({.dsn = ""}, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(PostgresJobStore::Open({.dsn = schema_->dsn(), .pool_size = 0}, clock_).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PostgresJobStoreTest, TextThatPostgresCannotStoreIsInvalidArgumentAndBadIdsAreNotFound) {
  std::unique_ptr<PostgresJobStore> store = OpenReplica(clock_);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->SetWatermark("apps", std::string("a\0b", 3)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->Get("j_\xff").status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->Get(std::string("j_\0", 3)).status(), StatusIs(absl::StatusCode::kNotFound));
}

// ---------------------------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------------------------

TEST_F(PostgresJobStoreTest, MigrationsRunOnceWhenReplicasStartTogether) {
  constexpr int kReplicas = 4;
  for (int round = 0; round < 3; ++round) {
    // A fresh schema each round: every replica finds it empty.
    schema_.reset();
    absl::StatusOr<std::unique_ptr<TestSchema>> schema = TestSchema::Create();
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *std::move(schema);

    std::vector<absl::StatusOr<std::unique_ptr<PostgresJobStore>>> stores;
    for (int i = 0; i < kReplicas; ++i) stores.emplace_back(absl::UnknownError("not opened"));
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kReplicas; ++i) {
      threads.emplace_back([&, i] {
        // Start together.
        ++ready;
        while (ready.load() < kReplicas) std::this_thread::yield();
        stores[i] = PostgresJobStore::Open({.dsn = schema_->dsn(), .pool_size = 2}, clock_);
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (const auto& store : stores) ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ(schema_->sql().Value("SELECT count(*) FROM schema_migrations").value_or(""),
              std::to_string(PostgresJobStore::kSchemaVersion));
    EXPECT_EQ(schema_->sql().Value("SELECT max(version) FROM schema_migrations").value_or(""),
              std::to_string(PostgresJobStore::kSchemaVersion));
    // They share one schema.
    const Job job = (*stores[0])->Enqueue(Event("k")).value().job;
    EXPECT_EQ((*stores[kReplicas - 1])->Get(job.id()).value().id(), job.id());
  }
}

TEST_F(PostgresJobStoreTest, ASchemaOfANewerOnsyncIsRefusedAndLeftAlone) {
  ASSERT_NE(OpenReplica(clock_), nullptr);
  const std::string newer = std::to_string(PostgresJobStore::kSchemaVersion + 1);
  ASSERT_TRUE(
      schema_->sql()
          .Query("INSERT INTO schema_migrations (version, applied_time) VALUES ($1, 0)", {newer})
          .ok());
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store =
      PostgresJobStore::Open({.dsn = schema_->dsn()}, clock_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("newer"));
  EXPECT_EQ(schema_->sql().Value("SELECT max(version) FROM schema_migrations").value_or(""), newer);
}

TEST_F(PostgresJobStoreTest, ASchemaWithAnotherProgramsJobsTableIsRefused) {
  ASSERT_TRUE(schema_->sql().Query("CREATE TABLE jobs (name TEXT)").ok());
  absl::StatusOr<std::unique_ptr<PostgresJobStore>> store =
      PostgresJobStore::Open({.dsn = schema_->dsn()}, clock_);
  EXPECT_THAT(store.status(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // Nothing was left behind.
  EXPECT_EQ(schema_->sql().Value("SELECT to_regclass('schema_migrations') IS NULL").value_or(""),
            "t");
}

}  // namespace
}  // namespace onsync::jobs
