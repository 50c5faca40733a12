// Runs a real binary as a child process for integration tests: captures its stdout and stderr,
// waits for a ready line, signals it, and reaps it.
//
// Thread safety: one test thread uses a ChildProcess; the capture threads are internal.
#ifndef ONSYNC_TESTS_SUPPORT_PROCESS_H_
#define ONSYNC_TESTS_SUPPORT_PROCESS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::testing {

class ChildProcess final {
 public:
  // Starts argv[0] (a path) with the rest as arguments.
  static absl::StatusOr<ChildProcess> Start(std::vector<std::string> argv);

  ChildProcess(ChildProcess&&) noexcept;
  ChildProcess& operator=(ChildProcess&&) noexcept;
  // Kills the child (SIGKILL) if it still runs, and reaps it.
  ~ChildProcess();

  // Returns the first stdout line that starts with `prefix`, waiting up to `timeout`.
  // DEADLINE_EXCEEDED on timeout, ABORTED if the child exited first (its stderr in the message).
  absl::StatusOr<std::string> WaitForLine(std::string_view prefix, absl::Duration timeout);

  void Signal(int signal_number);

  // Waits for the child to exit: its exit code, or 128 + signal when killed by one.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  std::string Stdout() const;
  std::string Stderr() const;
  int pid() const;

  // Internal state, shared with the capture threads.
  struct State;

 private:
  explicit ChildProcess(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The port of a ready line such as "onsync-server listening on 127.0.0.1:43210"; 0 if none.
int PortFromReadyLine(std::string_view line);

// Path of a binary built by this build (ONSYNC_BIN_DIR overrides).
std::string BinaryPath(std::string_view name);

// Path under the source tree (ONSYNC_SOURCE_DIR overrides).
std::string SourcePath(std::string_view relative);

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_SUPPORT_PROCESS_H_
