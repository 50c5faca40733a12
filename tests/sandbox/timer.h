// A one-thread timer: runs tasks after a delay. The sandbox uses it to delay responses (injected
// latency) and outcome retries without ever sleeping on an HTTP I/O thread.
//
// Thread safety: RunAfter and Shutdown may be called from any thread. Tasks run one at a time on
// the timer's thread, never inline from RunAfter while the timer runs; they must not block for
// long. Shutdown runs every pending task at once (so that every callback chain ends, e.g. a
// delayed response is still delivered); a RunAfter after Shutdown runs the task at once on the
// calling thread.
#ifndef ONSYNC_TESTS_SANDBOX_TIMER_H_
#define ONSYNC_TESTS_SANDBOX_TIMER_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"

namespace onsync::sandbox {

class TimerThread final : public clients::Scheduler {
 public:
  TimerThread();
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;
  ~TimerThread() override;  // Shutdown()

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) override;

  // Runs all pending tasks now, then joins the thread. Idempotent.
  void Shutdown();

 private:
  void Loop();

  absl::Mutex mu_;
  // Keyed by (due time, sequence) so equal due times keep their order.
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void() &&>> tasks_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_TIMER_H_
