#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/string_view.h"

namespace onsync::testing {

struct ChildProcess::State {
  pid_t pid = -1;
  std::thread stdout_reader;
  std::thread stderr_reader;
  mutable absl::Mutex mu;
  std::string stdout_text ABSL_GUARDED_BY(mu);
  std::string stderr_text ABSL_GUARDED_BY(mu);
  bool stdout_closed ABSL_GUARDED_BY(mu) = false;
  bool exited = false;
  int exit_code = 0;

  ~State() {
    if (pid > 0 && !exited) {
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
    if (stdout_reader.joinable()) stdout_reader.join();
    if (stderr_reader.joinable()) stderr_reader.join();
  }
};

namespace {

void ReadAll(int fd, ChildProcess::State* state, std::string ChildProcess::State::*text,
             bool is_stdout);

}  // namespace

ChildProcess::ChildProcess(std::unique_ptr<State> state) : state_(std::move(state)) {}
ChildProcess::ChildProcess(ChildProcess&&) noexcept = default;
ChildProcess& ChildProcess::operator=(ChildProcess&&) noexcept = default;
ChildProcess::~ChildProcess() = default;

absl::StatusOr<ChildProcess> ChildProcess::Start(std::vector<std::string> argv) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    // The test runner may block signals; the child must receive SIGTERM/SIGINT normally.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  auto state = std::make_unique<State>();
  state->pid = pid;
  State* raw = state.get();
  state->stdout_reader = std::thread(ReadAll, out_pipe[0], raw, &State::stdout_text, true);
  state->stderr_reader = std::thread(ReadAll, err_pipe[0], raw, &State::stderr_text, false);
  return ChildProcess(std::move(state));
}

namespace {

void ReadAll(int fd, ChildProcess::State* state, std::string ChildProcess::State::*text,
             bool is_stdout) {
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&state->mu);
    (state->*text).append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  if (is_stdout) {
    absl::MutexLock lock(&state->mu);
    state->stdout_closed = true;
  }
}

}  // namespace

absl::StatusOr<std::string> ChildProcess::WaitForLine(std::string_view prefix,
                                                      absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // Polls: output arrives in arbitrary chunks and the wait is short.
  while (true) {
    {
      absl::MutexLock lock(&state_->mu);
      for (absl::string_view line : absl::StrSplit(state_->stdout_text, '\n')) {
        if (absl::StartsWith(line, ToAbsl(prefix))) return std::string(line);
      }
      if (state_->stdout_closed) {
        return absl::AbortedError(absl::StrCat("process exited before printing \"", ToAbsl(prefix),
                                               "\"; stderr: ", state_->stderr_text));
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("no line \"", ToAbsl(prefix), "\" within ",
                                                        absl::FormatDuration(timeout),
                                                        "; stderr: ", state_->stderr_text));
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void ChildProcess::Signal(int signal_number) {
  if (state_->pid > 0 && !state_->exited) kill(state_->pid, signal_number);
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (state_->exited) return state_->exit_code;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(state_->pid, &status, WNOHANG);
    if (done == state_->pid) {
      state_->exited = true;
      state_->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (state_->stdout_reader.joinable()) state_->stdout_reader.join();
      if (state_->stderr_reader.joinable()) state_->stderr_reader.join();
      return state_->exit_code;
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("process still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string ChildProcess::Stdout() const {
  absl::MutexLock lock(&state_->mu);
  return state_->stdout_text;
}

std::string ChildProcess::Stderr() const {
  absl::MutexLock lock(&state_->mu);
  return state_->stderr_text;
}

int ChildProcess::pid() const { return state_->pid; }

int PortFromReadyLine(std::string_view line) {
  const size_t colon = line.rfind(':');
  int port = 0;
  if (colon == std::string_view::npos || !absl::SimpleAtoi(ToAbsl(line.substr(colon + 1)), &port)) {
    return 0;
  }
  return port;
}

namespace {

std::string FromEnv(const char* name, std::string_view fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string(fallback);
}

}  // namespace

std::string BinaryPath(std::string_view name) {
  return absl::StrCat(FromEnv("ONSYNC_BIN_DIR", ONSYNC_DEFAULT_BIN_DIR), "/", ToAbsl(name));
}

std::string SourcePath(std::string_view relative) {
  return absl::StrCat(FromEnv("ONSYNC_SOURCE_DIR", ONSYNC_DEFAULT_SOURCE_DIR), "/",
                      ToAbsl(relative));
}

}  // namespace onsync::testing
