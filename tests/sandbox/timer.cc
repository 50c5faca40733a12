#include "tests/sandbox/timer.h"

#include <vector>

#include "absl/time/clock.h"

namespace onsync::sandbox {

TimerThread::TimerThread() : thread_([this] { Loop(); }) {}

TimerThread::~TimerThread() { Shutdown(); }

void TimerThread::RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      tasks_.emplace(std::make_pair(absl::Now() + delay, next_sequence_++), std::move(task));
      return;
    }
  }
  // The thread is gone: run it here so that the callback chain still ends.
  std::move(task)();
}

void TimerThread::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void TimerThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (stopping_) {
      // Run everything still pending (tasks may add more; they are run too), then stop.
      while (!tasks_.empty()) {
        auto node = tasks_.extract(tasks_.begin());
        mu_.Unlock();
        std::move(node.mapped())();
        mu_.Lock();
      }
      stopped_ = true;
      return;
    }
    if (tasks_.empty()) {
      mu_.Await(absl::Condition(
          +[](TimerThread* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
            return self->stopping_ || !self->tasks_.empty();
          },
          this));
      continue;
    }
    const absl::Time due = tasks_.begin()->first.first;
    const absl::Time now = absl::Now();
    if (due > now) {
      const uint64_t first_sequence = tasks_.begin()->first.second;
      // Wake up early when a sooner task arrives or shutdown starts.
      struct Args {
        TimerThread* self;
        absl::Time due;
        uint64_t sequence;
      } args{this, due, first_sequence};
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                  return a->self->stopping_ || a->self->tasks_.empty() ||
                                         a->self->tasks_.begin()->first !=
                                             std::make_pair(a->due, a->sequence);
                                },
                                &args),
                            due);
      continue;
    }
    auto node = tasks_.extract(tasks_.begin());
    mu_.Unlock();
    std::move(node.mapped())();
    mu_.Lock();
  }
}

}  // namespace onsync::sandbox
