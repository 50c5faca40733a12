#include "clients/http/scheduler.h"

#include "absl/time/clock.h"

namespace onsync::clients {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace

const Clock& RealClock() {
  // Never destroyed, so it stays usable from other static destructors and detached threads.
  static const SystemClock* const clock = new SystemClock();
  return *clock;
}

}  // namespace onsync::clients
