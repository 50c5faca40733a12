#include "common/logging.h"

#include <grpc/support/log.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json.h"

namespace onsync::logging {
namespace {

// The context of the line being logged on this thread (spdlog's synchronous logger formats on
// the calling thread).
thread_local const LogContext* current_context = nullptr;

void Append(std::string_view text, spdlog::memory_buf_t& dest) {
  dest.append(text.data(), text.data() + text.size());
}

void AppendJsonField(std::string_view name, std::string_view value, spdlog::memory_buf_t& dest) {
  if (value.empty()) return;
  Append(",\"", dest);
  Append(name, dest);
  Append("\":\"", dest);
  Append(JsonEscape(value), dest);
  Append("\"", dest);
}

// Formats the current LogContext (`%&` in the pattern) as `,"name":"value"` for each field set.
class ContextFieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (current_context == nullptr) return;
    AppendJsonField("request_id", current_context->request_id, dest);
    AppendJsonField("job_id", current_context->job_id, dest);
    AppendJsonField("trace_id", current_context->trace_id, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ContextFieldsFlag>();
  }
};

// Formats the message (`%*` in the pattern) JSON-escaped.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string escaped =
        JsonEscape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

void GrpcLogToSpdlog(gpr_log_func_args* args) {
  spdlog::level::level_enum level = spdlog::level::debug;
  switch (args->severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      level = spdlog::level::debug;
      break;
    case GPR_LOG_SEVERITY_INFO:
      level = spdlog::level::info;
      break;
    case GPR_LOG_SEVERITY_ERROR:
      level = spdlog::level::err;
      break;
  }
  spdlog::log(level, "grpc: {} ({}:{})", args->message, args->file, args->line);
}

}  // namespace

void Init(std::string_view component, Level level) {
  auto logger = std::make_shared<spdlog::logger>(std::string(component),
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').add_flag<ContextFieldsFlag>('&').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n"%&,"message":"%*"})");
  logger->set_formatter(std::move(formatter));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  SetLevel(level);
  gpr_set_log_function(&GrpcLogToSpdlog);
}

void SetLevel(Level level) {
  spdlog::set_level(ToSpdlog(level));
  gpr_set_log_verbosity(level == Level::kDebug ? GPR_LOG_SEVERITY_DEBUG : GPR_LOG_SEVERITY_ERROR);
}

bool Enabled(Level level) { return spdlog::default_logger_raw()->should_log(ToSpdlog(level)); }

void Write(const LogContext& context, Level level, std::string_view message) {
  const ScopedLogContext scope(context);
  spdlog::default_logger_raw()->log(ToSpdlog(level),
                                    spdlog::string_view_t(message.data(), message.size()));
}

ScopedLogContext::ScopedLogContext(const LogContext& context) : previous_(current_context) {
  current_context = &context;
}

ScopedLogContext::~ScopedLogContext() { current_context = previous_; }

absl::StatusOr<Level> ParseLevel(std::string_view text) {
  std::string lower(text);
  absl::AsciiStrToLower(&lower);
  if (lower == "debug") return Level::kDebug;
  if (lower == "info") return Level::kInfo;
  if (lower == "warn" || lower == "warning") return Level::kWarn;
  if (lower == "error") return Level::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown log level \"", std::string(text), "\" (debug, info, warn, error)"));
}

}  // namespace onsync::logging
