// JSON-lines logging on stderr for every onsync binary.
//
// One line per event: {"time":"2026-11-29T09:00:00.123456Z","level":"info",
// "component":"server","request_id":"...","job_id":"...","trace_id":"...","message":"..."};
// strings are JSON-escaped, and request_id, job_id and trace_id appear when the line belongs to
// an event that has them. gRPC core's own log output is routed into the same stream.
//
// Lines of an event: Log(context, level, format, args...) with the event's LogContext (work on
// callbacks has no ambient context, so the context travels with the event explicitly). Code
// running synchronously for one event may instead set a ScopedLogContext, and every line it logs
// through spdlog's free functions (spdlog::info(...)) then carries that context. Lines outside
// an event: spdlog's free functions after Init. Never log secrets: redact with the project's
// redaction helper first.
//
// Thread safety: Init and SetLevel are for start-up (call once, before other threads log);
// logging itself is thread-safe. A ScopedLogContext applies to its own thread only.
#ifndef ONSYNC_COMMON_LOGGING_H_
#define ONSYNC_COMMON_LOGGING_H_

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fmt/core.h"

namespace onsync::logging {

enum class Level { kDebug, kInfo, kWarn, kError };

// Installs the JSON stderr logger named `component` as spdlog's default logger and routes gRPC
// core logs into it.
void Init(std::string_view component, Level level = Level::kInfo);

void SetLevel(Level level);

// Parses "debug", "info", "warn", "error" (case-insensitive).
absl::StatusOr<Level> ParseLevel(std::string_view text);

// What ties a log line to an event; empty fields are left out of the line.
struct LogContext {
  std::string request_id = {};  // the caller's x-request-id
  std::string job_id = {};
  std::string trace_id = {};  // the W3C trace id (32 hex digits)
};

// Whether a line at `level` would be written (lets callers skip building costly arguments).
bool Enabled(Level level);

// Writes `message` at `level` with `context`'s fields.
void Write(const LogContext& context, Level level, std::string_view message);

template <typename... Args>
void Log(const LogContext& context, Level level, fmt::format_string<Args...> format,
         Args&&... args) {
  if (!Enabled(level)) return;
  Write(context, level, fmt::format(format, std::forward<Args>(args)...));
}

// Sets the context of the lines this thread logs until destroyed (restoring the previous one).
// `context` must outlive the scope.
class ScopedLogContext {
 public:
  explicit ScopedLogContext(const LogContext& context);
  ~ScopedLogContext();
  ScopedLogContext(const ScopedLogContext&) = delete;
  ScopedLogContext& operator=(const ScopedLogContext&) = delete;

 private:
  const LogContext* previous_;
};

}  // namespace onsync::logging

// Lets log calls format Abseil's own string_view (see common/string_view.h) and Status.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view text, FormatContext& context) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text.data(), text.size()),
                                                    context);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(const absl::Status& status, FormatContext& context) const {
    const std::string text = status.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), context);
  }
};

#endif  // ONSYNC_COMMON_LOGGING_H_
