#include "clients/http/http_transport.h"

#include <optional>
#include <string_view>

#include "absl/strings/match.h"
#include "common/string_view.h"

namespace onsync::clients {

std::optional<std::string_view> HttpResponse::Header(std::string_view name) const {
  for (const auto& [header_name, value] : headers) {
    if (absl::EqualsIgnoreCase(ToAbsl(header_name), ToAbsl(name))) return std::string_view(value);
  }
  return std::nullopt;
}

void CallOptions::ApplyTo(HttpRequest& request) const {
  request.deadline = deadline;
  if (!traceparent.empty()) request.headers.emplace_back("traceparent", traceparent);
}

}  // namespace onsync::clients
