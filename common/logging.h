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

#include "absl/status/statusor.h"

namespace onsync::logging {

enum class Level { kDebug, kInfo, kWarn, kError };

// Installs the JSON stderr logger named `component` as spdlog's default logger and routes gRPC
// core logs into it.
void Init(std::string_view component, Level level = Level::kInfo);

void SetLevel(Level level);

// Parses "debug", "info", "warn", "error" (case-insensitive).
absl::StatusOr<Level> ParseLevel(std::string_view text);

}  // namespace onsync::logging

#endif  // ONSYNC_COMMON_LOGGING_H_
