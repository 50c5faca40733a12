// What makes replicas sharing one PostgreSQL act as one, beyond the job store's own tests: the
// create lock (jobs::PostgresCreateLock) that serializes creates of one referenced record across
// processes, and the batch scheduler, whose turns on every replica start at most one run of a
// profile at a time (the store's per-profile advisory lock). Two lock objects or two stores on
// one database stand for two replicas. Each test works in a fresh schema of the database that
// ONSYNC_TEST_PG_DSN names (scripts/test.sh starts one); without it every test fails, saying how
// to run them.
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "gtest/gtest.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/batch_scheduler.h"
#include "server/jobs/job_store.h"
#include "server/jobs/postgres_create_lock.h"
#include "server/jobs/postgres_job_store.h"
#include "tests/server/jobs/postgres_test_support.h"

namespace onsync::jobs {
namespace {

using postgres_testing::TestSchema;
using Held = engine::CreateLock::Held;

constexpr absl::Duration kPatience = absl::Seconds(30);

template <typename Condition>
bool Eventually(Condition condition) {
  const absl::Time give_up = absl::Now() + kPatience;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class PostgresReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestSchema>> schema = TestSchema::Create();
    ASSERT_TRUE(schema.ok()) << schema.status().message();
    schema_ = *std::move(schema);
  }

  // Advisory locks are database-wide, not per schema: each test takes keys of its own, so that
  // tests running at once (ctest -j) never wait on each other's locks.
  std::string Key(absl::string_view name) const {
    return absl::StrCat(::testing::UnitTest::GetInstance()->current_test_info()->name(), "/", name);
  }

  std::unique_ptr<PostgresCreateLock> OpenLock() {
    absl::StatusOr<std::unique_ptr<PostgresCreateLock>> lock =
        PostgresCreateLock::Open({.dsn = schema_->dsn(), .threads = 2, .max_connections = 4});
    EXPECT_TRUE(lock.ok()) << lock.status();
    return lock.ok() ? *std::move(lock) : nullptr;
  }

  // Sessions waiting for the advisory lock of `key` (pg_locks: bigint form, objsubid 1).
  int Waiters(const std::string& key) {
    const uint64_t id = static_cast<uint64_t>(PostgresCreateLock::LockId(key));
    absl::StatusOr<std::string> count = schema_->sql().Value(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid::bigint = $1::bigint AND objid::bigint = $2::bigint AND objsubid = 1",
        {absl::StrCat(id >> 32), absl::StrCat(id & 0xffffffffu)});
    EXPECT_TRUE(count.ok()) << count.status();
    return count.ok() ? std::stoi(*count) : -1;
  }

  std::unique_ptr<TestSchema> schema_;
};

// Acquires on `lock`; the result arrives on the returned future.
std::future<absl::StatusOr<std::unique_ptr<Held>>> AcquireAsync(PostgresCreateLock& lock,
                                                                const std::string& key,
                                                                absl::Duration timeout) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<std::unique_ptr<Held>>>>();
  auto future = promise->get_future();
  lock.Acquire(key, absl::Now() + timeout,
               [promise](absl::StatusOr<std::unique_ptr<Held>> held) mutable {
                 promise->set_value(std::move(held));
               });
  return future;
}

TEST_F(PostgresReplicasTest, TheSecondReplicaWaitsForTheFirstToRelease) {
  std::unique_ptr<PostgresCreateLock> first = OpenLock();
  std::unique_ptr<PostgresCreateLock> second = OpenLock();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  const std::string key =
      "sandbox\x1f"
      "100/1005\x1f"
      "Charlie Day";
  absl::StatusOr<std::unique_ptr<Held>> held = AcquireAsync(*first, key, absl::Seconds(10)).get();
  ASSERT_TRUE(held.ok()) << held.status();

  auto waiting = AcquireAsync(*second, key, absl::Seconds(20));
  // The second replica's session waits in PostgreSQL, not on a caller's thread.
  ASSERT_TRUE(Eventually([&] { return Waiters(key) == 1; }));
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  // Another key is not held up.
  absl::StatusOr<std::unique_ptr<Held>> other = AcquireAsync(*second,
                                                             "sandbox\x1f"
                                                             "100/1005\x1f"
                                                             "Abel Tuter",
                                                             absl::Seconds(10))
                                                    .get();
  ASSERT_TRUE(other.ok()) << other.status();

  held->reset();  // releases (on the first lock's release thread)
  absl::StatusOr<std::unique_ptr<Held>> second_held = waiting.get();
  ASSERT_TRUE(second_held.ok()) << second_held.status();
  EXPECT_EQ(Waiters(key), 0);
}

TEST_F(PostgresReplicasTest, AWaitIsBoundedByTheDeadline) {
  std::unique_ptr<PostgresCreateLock> first = OpenLock();
  std::unique_ptr<PostgresCreateLock> second = OpenLock();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  absl::StatusOr<std::unique_ptr<Held>> held =
      AcquireAsync(*first, Key("k"), absl::Seconds(10)).get();
  ASSERT_TRUE(held.ok()) << held.status();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<Held>> late =
      AcquireAsync(*second, Key("k"), absl::Milliseconds(200)).get();
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // The timed-out connection is reusable: the lock is taken once the holder lets go.
  held->reset();
  absl::StatusOr<std::unique_ptr<Held>> after =
      AcquireAsync(*second, Key("k"), absl::Seconds(10)).get();
  EXPECT_TRUE(after.ok()) << after.status();
}

TEST_F(PostgresReplicasTest, AHolderWhoseConnectionDiesReleasesTheLock) {
  std::unique_ptr<PostgresCreateLock> first = OpenLock();
  std::unique_ptr<PostgresCreateLock> second = OpenLock();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  absl::StatusOr<std::unique_ptr<Held>> held =
      AcquireAsync(*first, Key("k"), absl::Seconds(10)).get();
  ASSERT_TRUE(held.ok()) << held.status();
  auto waiting = AcquireAsync(*second, Key("k"), absl::Seconds(20));
  ASSERT_TRUE(Eventually([&] { return Waiters(Key("k")) == 1; }));
  // As when a replica is killed: the server ends the holder's session.
  const uint64_t id = static_cast<uint64_t>(PostgresCreateLock::LockId(Key("k")));
  absl::StatusOr<std::string> terminated = schema_->sql().Value(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory'"
      " AND granted AND classid::bigint = $1::bigint AND objid::bigint = $2::bigint",
      {absl::StrCat(id >> 32), absl::StrCat(id & 0xffffffffu)});
  ASSERT_TRUE(terminated.ok()) << terminated.status();
  ASSERT_EQ(*terminated, "1");
  absl::StatusOr<std::unique_ptr<Held>> taken = waiting.get();
  EXPECT_TRUE(taken.ok()) << taken.status();
  held->reset();  // its unlock fails on the dead connection, which is closed: harmless
  // The first lock still works, on a new connection.
  taken->reset();
  absl::StatusOr<std::unique_ptr<Held>> again =
      AcquireAsync(*first, Key("k"), absl::Seconds(10)).get();
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(PostgresReplicasTest, SchedulersOnTwoReplicasRunAProfileOnOneReplicaAtATime) {
  std::unique_ptr<PostgresJobStore> stores[2];
  for (auto& store : stores) {
    absl::StatusOr<std::unique_ptr<PostgresJobStore>> opened =
        PostgresJobStore::Open({.dsn = schema_->dsn(), .pool_size = 2}, clients::RealClock());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store = *std::move(opened);
  }
  std::mutex mu;
  int started = 0;
  int skipped = 0;
  std::vector<std::unique_ptr<BatchScheduler>> schedulers;
  for (auto& store : stores) {
    schedulers.push_back(std::make_unique<BatchScheduler>(
        std::vector<BatchScheduler::Schedule>{{"apps", absl::Milliseconds(10)}},
        [&, store = store.get()](const std::string& profile) -> absl::Status {
          NewJob request;
          request.job.set_profile(profile);
          request.job.set_kind(onsync::v1::JOB_KIND_BATCH);
          request.job.set_mode(onsync::v1::SYNC_MODE_WRITE_BACK);
          request.job.mutable_batch()->set_full(false);
          absl::StatusOr<EnqueueResult> enqueued = store->Enqueue(std::move(request));
          std::lock_guard<std::mutex> lock(mu);
          if (enqueued.ok()) ++started;
          if (absl::IsAlreadyExists(enqueued.status())) ++skipped;
          return enqueued.status();
        }));
  }
  for (auto& scheduler : schedulers) scheduler->Start();
  auto active = [&] {
    return schema_->sql()
        .Value("SELECT count(*) FROM jobs WHERE kind = 2 AND state IN (1, 2, 4)")
        .value_or("?");
  };
  // Both schedulers take many turns while the first run is going: one run, every other turn
  // skipped.
  ASSERT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return skipped >= 20;
  }));
  EXPECT_EQ(active(), "1");
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(started, 1);
  }
  // A worker of replica 0 runs it to the end; the next turn (on either replica) starts one more.
  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<std::vector<onsync::v1::Job>> claimed =
        stores[0]->ClaimNext("worker", 10, absl::Seconds(30));
    ASSERT_TRUE(claimed.ok()) << claimed.status();
    ASSERT_EQ(claimed->size(), 1u);
    EXPECT_EQ(active(), "1");
    ASSERT_TRUE(stores[0]->Complete(claimed->front().id(), "worker", {}).ok());
    ASSERT_TRUE(Eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return started == round + 2;
    }));
    EXPECT_EQ(active(), "1");
  }
  for (auto& scheduler : schedulers) scheduler->Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(started, 4);
  EXPECT_EQ(schema_->sql().Value("SELECT count(*) FROM jobs WHERE kind = 2").value_or(""), "4");
}

}  // namespace
}  // namespace onsync::jobs
