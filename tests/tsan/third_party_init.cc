// Part of the tsan stage's shim library (tests/tsan/CMakeLists.txt): initializes, before main and
// so before any test thread exists, the lazily created singletons of uninstrumented third-party
// libraries that every test thread then shares.
//
// Such a singleton is created behind a guard (a function-local static, absl::call_once) whose
// fast path is an acquire load inside the uninstrumented library: TSan does not see it, so a
// thread that finds the singleton already built has no happens-before edge with the thread that
// built it, and its first use is reported as a race with the construction. Built here, in the main
// thread, the singletons happen before every thread the tests start (thread creation orders
// them). Nothing of ours is ordered by this: only these libraries' own one-time setup.
//   - spdlog's registry and its default logger (spdlog::details::registry::instance(), libspdlog).
//   - Abseil's Randen entropy pool (random_internal::RandenPool,
//   libabsl_random_internal_pool_urbg),
//     which seeds absl::BitGen and the job id generator's engine.
#include <spdlog/spdlog.h>

#include "absl/random/random.h"

namespace {

const bool kThirdPartySingletonsInitialized = [] {
  (void)spdlog::default_logger_raw();
  absl::BitGen gen;
  (void)absl::Uniform<int>(gen, 0, 2);
  return true;
}();

}  // namespace
