// Scheduled batch runs: for every profile with `schedule: {every: D}`, an incremental batch run is
// started when the server starts and then every D. A run that is still going is not started
// twice: the job store refuses a second batch job of a profile (ALREADY_EXISTS), which the
// scheduler takes as "skip this turn". With many replicas each one's scheduler asks, and the
// store's one-batch-per-profile rule keeps the runs single.
//
// Thread safety: Start and Stop may be called from any thread, once each; `start_run` is called
// on the scheduler's own thread.
#ifndef ONSYNC_SERVER_JOBS_BATCH_SCHEDULER_H_
#define ONSYNC_SERVER_JOBS_BATCH_SCHEDULER_H_

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace onsync::jobs {

class BatchScheduler {
 public:
  struct Schedule {
    std::string profile;
    absl::Duration every;
  };
  // Starts one incremental run of `profile`; ALREADY_EXISTS when one is still going.
  using StartRun = absl::AnyInvocable<absl::Status(const std::string& profile)>;

  BatchScheduler(std::vector<Schedule> schedules, StartRun start_run);
  ~BatchScheduler();  // Stop()
  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  void Start();
  void Stop();

 private:
  void Loop();

  const std::vector<Schedule> schedules_;
  StartRun start_run_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_BATCH_SCHEDULER_H_
