#include "gateway/routes/call_context.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/string_view.h"

namespace onsync::gateway {

absl::StatusOr<absl::Duration> ParseGrpcTimeout(std::string_view value) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid grpc-timeout \"", ToAbsl(value),
                     "\": expected 1-8 digits and a unit H, M, S, m, u, n"));
  };
  if (value.size() < 2 || value.size() > 9) return invalid();
  const std::string_view digits = value.substr(0, value.size() - 1);
  int64_t amount = 0;
  if (!absl::c_all_of(digits, absl::ascii_isdigit) || !absl::SimpleAtoi(ToAbsl(digits), &amount)) {
    return invalid();
  }
  switch (value.back()) {
    case 'H':
      return absl::Hours(amount);
    case 'M':
      return absl::Minutes(amount);
    case 'S':
      return absl::Seconds(amount);
    case 'm':
      return absl::Milliseconds(amount);
    case 'u':
      return absl::Microseconds(amount);
    case 'n':
      return absl::Nanoseconds(amount);
    default:
      return invalid();
  }
}

bool IsJsonContentType(std::string_view content_type) {
  const absl::string_view media_type =
      absl::StripAsciiWhitespace(ToAbsl(content_type.substr(0, content_type.find(';'))));
  return absl::EqualsIgnoreCase(media_type, "application/json");
}

absl::Status ConfigureCallContext(const http::Request& request, const RpcDeadlines& deadlines,
                                  grpc::ClientContext& context) {
  absl::Duration deadline = deadlines.default_deadline;
  if (const std::optional<std::string_view> timeout = request.Header("grpc-timeout")) {
    const absl::StatusOr<absl::Duration> parsed = ParseGrpcTimeout(*timeout);
    if (!parsed.ok()) return parsed.status();
    deadline = std::min(*parsed, deadlines.max_deadline);
  }
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  for (const char* name : {"x-request-id", "traceparent"}) {
    if (const std::optional<std::string_view> value = request.Header(name)) {
      context.AddMetadata(name, std::string(*value));
    }
  }
  return absl::OkStatus();
}

}  // namespace onsync::gateway
