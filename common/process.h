// Process-wide settings every onsync binary applies first thing in main.
//
//  - At most kMallocArenas glibc malloc arenas: the binaries are I/O-bound services with a few
//    dozen threads, and glibc's default (8 per core) spreads small allocations over as many
//    arenas, which fragments memory (measured: peak RSS of server + gateway under load 59.9 MB
//    with the default, 56.2 MB with two arenas; BENCHMARKS.md).
//  - Abseil's mutex deadlock detection off: Debian builds Abseil with it on, a graph update on
//    every lock (about 1% of a sync's CPU); the code takes no absl::Mutex in an order that could
//    deadlock (gRPC's own locks included).
//
// Thread safety: call once from main before starting any thread.
#ifndef ONSYNC_COMMON_PROCESS_H_
#define ONSYNC_COMMON_PROCESS_H_

namespace onsync {

inline constexpr int kMallocArenas = 2;

void ApplyProcessDefaults();

}  // namespace onsync

#endif  // ONSYNC_COMMON_PROCESS_H_
