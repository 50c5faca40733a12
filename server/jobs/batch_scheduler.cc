#include "server/jobs/batch_scheduler.h"

#include <chrono>

#include "absl/time/clock.h"
#include "common/logging.h"
#include "spdlog/spdlog.h"

namespace onsync::jobs {

BatchScheduler::BatchScheduler(std::vector<Schedule> schedules, StartRun start_run)
    : schedules_(std::move(schedules)), start_run_(std::move(start_run)) {}

BatchScheduler::~BatchScheduler() { Stop(); }

void BatchScheduler::Start() {
  if (schedules_.empty()) return;
  thread_ = std::thread([this] { Loop(); });
}

void BatchScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchScheduler::Loop() {
  // Each schedule's next turn; the first is now.
  std::vector<absl::Time> due(schedules_.size(), absl::Now());
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    absl::Time next = absl::InfiniteFuture();
    for (size_t i = 0; i < schedules_.size(); ++i) {
      if (due[i] <= now) {
        lock.unlock();
        const absl::Status started = start_run_(schedules_[i].profile);
        lock.lock();
        if (started.ok()) {
          spdlog::info("schedule: started an incremental run of {}", schedules_[i].profile);
        } else if (absl::IsAlreadyExists(started)) {
          spdlog::info("schedule: {} is still running; this turn is skipped",
                       schedules_[i].profile);
        } else {
          spdlog::warn("schedule: cannot start a run of {}: {}", schedules_[i].profile, started);
        }
        // From the planned time, so that turns do not drift; a missed turn is not made up.
        while (due[i] <= now) due[i] += schedules_[i].every;
      }
      next = std::min(next, due[i]);
    }
    wake_.wait_for(lock, absl::ToChronoNanoseconds(next - absl::Now()));
  }
}

}  // namespace onsync::jobs
