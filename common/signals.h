// Termination signals for onsync's binaries: SIGTERM and SIGINT are taken by sigwait on the
// main thread rather than by an async handler.
//
// Usage, first thing in main (before any thread starts, so that every thread inherits the mask):
//   onsync::BlockTerminationSignals();
//   ... start servers ...
//   const int signal_number = onsync::WaitForTerminationSignal();
//
// Thread safety: BlockTerminationSignals affects the calling thread and the threads it creates
// afterwards; WaitForTerminationSignal blocks its caller.
#ifndef ONSYNC_COMMON_SIGNALS_H_
#define ONSYNC_COMMON_SIGNALS_H_

namespace onsync {

void BlockTerminationSignals();

// Returns the number of the signal (SIGTERM or SIGINT) that arrived.
int WaitForTerminationSignal();

}  // namespace onsync

#endif  // ONSYNC_COMMON_SIGNALS_H_
