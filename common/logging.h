// JSON-lines logging on stderr for every onsync binary.
//
// One line per event: {"time":"2026-11-29T09:00:00.123456Z","level":"info",
// "component":"server","message":"..."}; the message is JSON-escaped. gRPC core's own log output
// is routed into the same stream. Use spdlog's free functions (spdlog::info(...)) after Init.
// Never log secrets: redact with the project's redaction helper first.
//
// Thread safety: Init and SetLevel are for start-up (call once, before other threads log);
// logging itself is thread-safe.
#ifndef ONSYNC_COMMON_LOGGING_H_
#define ONSYNC_COMMON_LOGGING_H_

#include <string>
#include <string_view>

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
