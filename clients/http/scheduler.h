// Time seams: a clock and a scheduler of delayed tasks, so that backoff, TTLs and timeouts can be
// driven by fake time in tests.
//
// Thread safety: implementations are thread-safe. A task runs exactly once, on a thread of the
// scheduler, never inline from RunAfter; tasks still pending when the scheduler shuts down are
// run promptly (so that every callback chain ends) — their owners see the shutdown through the
// transport's CANCELLED results.
#ifndef ONSYNC_CLIENTS_HTTP_SCHEDULER_H_
#define ONSYNC_CLIENTS_HTTP_SCHEDULER_H_

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace onsync::clients {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// absl::Now().
const Clock& RealClock();

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) = 0;
};

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_SCHEDULER_H_
