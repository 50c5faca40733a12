// BatchScheduler: runs at start and every period, per profile; a refused turn (a run still going)
// is skipped, not retried in a loop.
#include "server/jobs/batch_scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>

#include "absl/synchronization/notification.h"

namespace onsync::jobs {
namespace {

TEST(BatchSchedulerTest, StartsEachProfileAtOnceThenEveryPeriodAndSkipsRefusedTurns) {
  std::mutex mu;
  std::map<std::string, int> calls;
  absl::Notification enough;
  BatchScheduler scheduler({{"often", absl::Milliseconds(20)}, {"rarely", absl::Hours(1)}},
                           [&](const std::string& profile) {
                             std::lock_guard<std::mutex> lock(mu);
                             const int n = ++calls[profile];
                             if (profile == "often" && n == 4 && !enough.HasBeenNotified())
                               enough.Notify();
                             // Every other turn finds the previous run still going.
                             return n % 2 == 0 ? absl::AlreadyExistsError("still running")
                                               : absl::OkStatus();
                           });
  scheduler.Start();
  ASSERT_TRUE(enough.WaitForNotificationWithTimeout(absl::Seconds(10)));
  scheduler.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_GE(calls["often"], 4);
  EXPECT_EQ(calls["rarely"], 1);  // At start only: its next turn is an hour away.
}

TEST(BatchSchedulerTest, NoSchedulesStartsNoThreadAndStopIsHarmless) {
  BatchScheduler scheduler({}, [](const std::string&) { return absl::OkStatus(); });
  scheduler.Start();
  scheduler.Stop();
  scheduler.Stop();
}

}  // namespace
}  // namespace onsync::jobs
