#include "common/process.h"

#include <malloc.h>

#include "absl/synchronization/mutex.h"

namespace onsync {

void ApplyProcessDefaults() {
  mallopt(M_ARENA_MAX, kMallocArenas);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace onsync
