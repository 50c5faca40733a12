// WorkerPool over a real (in-memory) SQLite store with a scripted JobRunner: outcomes are
// recorded with the retry policy (backoff, Retry-After floor, permanent errors DEAD at once),
// concurrency is bounded, a cancelled job's attempt is told to stop, and Stop waits for attempts.
#include "server/jobs/worker_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/http/http_status.h"
#include "common/string_view.h"
#include "server/jobs/sqlite_job_store.h"

namespace onsync::jobs {
namespace {

using Attempt = std::function<absl::StatusOr<v1::SyncResult>(const v1::Job&, AttemptContext&)>;

// Runs each attempt with the function the test set; counts attempts in flight.
class ScriptedRunner final : public JobRunner {
 public:
  explicit ScriptedRunner(Attempt attempt) : attempt_(std::move(attempt)) {}

  absl::StatusOr<v1::SyncResult> RunAttempt(const v1::Job& job, AttemptContext& context) override {
    const int now = ++running_;
    int seen = max_running_.load();
    while (now > seen && !max_running_.compare_exchange_weak(seen, now)) {
    }
    absl::StatusOr<v1::SyncResult> result = attempt_(job, context);
    --running_;
    ++attempts_;
    return result;
  }

  int max_running() const { return max_running_; }
  int attempts() const { return attempts_; }

 private:
  Attempt attempt_;
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
  std::atomic<int> attempts_{0};
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteJobStore::Open(":memory:", clients::RealClock());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  std::string Enqueue(int max_attempts = 3) {
    NewJob job;
    job.job.set_profile("p");
    job.job.set_kind(v1::JOB_KIND_EVENT);
    job.job.set_mode(v1::SYNC_MODE_WRITE_BACK);
    job.job.mutable_trigger()->set_key(absl::StrCat("key ", ++enqueued_));
    job.job.set_max_attempts(max_attempts);
    auto result = store_->Enqueue(std::move(job));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->job.id() : "";
  }

  // Polls (bounded) until the job is in `state`.
  v1::Job WaitFor(const std::string& id, v1::JobState state) {
    v1::Job job;
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (absl::Now() < give_up) {
      auto got = store_->Get(id);
      if (got.ok()) job = *got;
      if (job.state() == state) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return job;
  }

  WorkerOptions Options(int workers = 2) {
    return {.workers = workers,
            .lease = absl::Seconds(3),
            .poll_interval = absl::Milliseconds(10),
            .initial_backoff = absl::Milliseconds(1),
            .max_backoff = absl::Milliseconds(5),
            .owner = "test-owner"};
  }

  // Bounded polling (5 s) for `flag`.
  static bool WaitUntil(const std::atomic<bool>& flag) {
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    while (!flag && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    return flag;
  }

  std::unique_ptr<SqliteJobStore> store_;
  int enqueued_ = 0;
};

TEST_F(WorkerPoolTest, SuccessIsRecordedWithTheResult) {
  ScriptedRunner runner([](const v1::Job&, AttemptContext&) {
    v1::SyncResult result;
    result.set_written(true);
    return result;
  });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const std::string id = Enqueue();
  pool.Start();
  pool.Wake();
  const v1::Job job = WaitFor(id, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(job.attempts(), 1);
  EXPECT_TRUE(job.result().written());
  pool.Stop(absl::Seconds(1));
}

TEST_F(WorkerPoolTest, RetryableErrorsAreRetriedUntilTheyPassOrTheJobIsDead) {
  std::atomic<int> calls{0};
  ScriptedRunner runner([&](const v1::Job& job, AttemptContext&) -> absl::StatusOr<v1::SyncResult> {
    ++calls;
    if (job.trigger().key() == "key 1" && job.attempts() < 3) {
      return absl::UnavailableError("ServiceNow is down");
    }
    if (job.trigger().key() == "key 2") return absl::DeadlineExceededError("slow");
    return v1::SyncResult();
  });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const std::string recovers = Enqueue(3);
  const std::string dies = Enqueue(3);
  pool.Start();
  const v1::Job recovered = WaitFor(recovers, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(recovered.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(recovered.attempts(), 3);
  const v1::Job dead = WaitFor(dies, v1::JOB_STATE_DEAD);
  EXPECT_EQ(dead.state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(dead.attempts(), 3);
  EXPECT_EQ(dead.last_error().code(), static_cast<int>(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(dead.last_error().message(), "slow");
  pool.Stop(absl::Seconds(1));
}

TEST_F(WorkerPoolTest, PermanentErrorsAreDeadAtOnce) {
  ScriptedRunner runner([](const v1::Job&, AttemptContext&) -> absl::StatusOr<v1::SyncResult> {
    return absl::NotFoundError("no ServiceNow row");
  });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const std::string id = Enqueue(8);
  pool.Start();
  const v1::Job job = WaitFor(id, v1::JOB_STATE_DEAD);
  EXPECT_EQ(job.state(), v1::JOB_STATE_DEAD);
  EXPECT_EQ(job.attempts(), 1);
  pool.Stop(absl::Seconds(1));
}

TEST_F(WorkerPoolTest, RetryAfterFromTheUpstreamIsTheFloorOfTheBackoff) {
  absl::Status throttled = absl::UnavailableError("429 Too Many Requests");
  throttled.SetPayload(ToAbsl(clients::kRetryAfterPayloadUrl), absl::Cord("60"));
  ASSERT_EQ(clients::RetryAfterFromStatus(throttled), absl::Seconds(60));
  ScriptedRunner runner(
      [&](const v1::Job&, AttemptContext&) -> absl::StatusOr<v1::SyncResult> { return throttled; });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const absl::Time before = absl::Now();
  const std::string id = Enqueue(3);
  pool.Start();
  const v1::Job job = WaitFor(id, v1::JOB_STATE_FAILED);
  ASSERT_EQ(job.state(), v1::JOB_STATE_FAILED);
  // The policy's own backoff is at most 5 ms here: the 60 s come from Retry-After.
  EXPECT_GE(absl::FromUnixSeconds(job.next_attempt_time().seconds()), before + absl::Seconds(59));
  pool.Stop(absl::Seconds(1));
}

TEST_F(WorkerPoolTest, ConcurrencyIsBoundedByTheWorkers) {
  ScriptedRunner runner([](const v1::Job&, AttemptContext&) -> absl::StatusOr<v1::SyncResult> {
    absl::SleepFor(absl::Milliseconds(20));
    return v1::SyncResult();
  });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options(/*workers=*/3));
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(Enqueue());
  pool.Start();
  for (const std::string& id : ids) {
    EXPECT_EQ(WaitFor(id, v1::JOB_STATE_SUCCEEDED).state(), v1::JOB_STATE_SUCCEEDED);
  }
  EXPECT_EQ(runner.attempts(), 12);
  EXPECT_LE(runner.max_running(), 3);
  EXPECT_GE(runner.max_running(), 2);
  pool.Stop(absl::Seconds(1));
}

TEST_F(WorkerPoolTest, ACancelledJobsAttemptIsToldToStopAndItsOutcomeIsNotRecorded) {
  std::atomic<bool> started{false};
  ScriptedRunner runner(
      [&](const v1::Job&, AttemptContext& context) -> absl::StatusOr<v1::SyncResult> {
        started = true;
        const absl::Time give_up = absl::Now() + absl::Seconds(10);
        // A batch run polls cancelled() between pages; the heartbeat (every lease/3 = 1 s)
        // learns of the cancel.
        while (!context.cancelled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
        return absl::CancelledError("stopped");
      });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const std::string id = Enqueue();
  pool.Start();
  ASSERT_TRUE(WaitUntil(started));
  ASSERT_TRUE(store_->Cancel(id).ok());
  pool.Stop(absl::Seconds(5));  // Returns once the attempt noticed.
  auto job = store_->Get(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(runner.attempts(), 1);
}

TEST_F(WorkerPoolTest, StopWaitsForRunningAttemptsThenLeavesTheJobToTheNextProcess) {
  std::atomic<bool> started{false};
  ScriptedRunner runner(
      [&](const v1::Job&, AttemptContext& context) -> absl::StatusOr<v1::SyncResult> {
        started = true;
        while (!context.cancelled()) absl::SleepFor(absl::Milliseconds(5));
        return absl::CancelledError("stopped by shutdown");
      });
  WorkerPool pool(*store_, runner, clients::RealClock(), Options());
  const std::string id = Enqueue();
  pool.Start();
  ASSERT_TRUE(WaitUntil(started));
  pool.Stop(absl::Milliseconds(50));
  auto job = store_->Get(id);
  ASSERT_TRUE(job.ok());
  // Still RUNNING under the old lease: a restarted server (ReleaseAllLeases) claims it again.
  EXPECT_EQ(job->state(), v1::JOB_STATE_RUNNING);
  ASSERT_TRUE(store_->ReleaseAllLeases().ok());
  auto claimed = store_->ClaimNext("next-process", 1, absl::Seconds(3));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().id(), id);
  EXPECT_EQ(claimed->front().attempts(), 2);
}

}  // namespace
}  // namespace onsync::jobs
