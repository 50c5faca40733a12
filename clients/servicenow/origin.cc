#include "clients/servicenow/origin.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"

namespace onsync::clients::servicenow {
namespace {

struct Split {
  std::string scheme;
  std::string authority;  // host[:port], lower-cased
  std::string_view rest;  // path, query, fragment
};

std::optional<Split> SplitUrl(std::string_view url) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos) return std::nullopt;
  Split out;
  out.scheme = absl::AsciiStrToLower(ToAbsl(url.substr(0, colon)));
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string_view after = url.substr(colon + 3);
  const size_t end = after.find_first_of("/?#");
  std::string_view authority = after.substr(0, end);
  out.rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  for (char c : authority) {
    // Host names, IPv4, bracketed IPv6 and a port; nothing that could confuse a URL parser.
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']' || c == '_')) {
      return std::nullopt;
    }
  }
  std::string lower = absl::AsciiStrToLower(ToAbsl(authority));
  // Drop a default port so that `https://a:443` and `https://a` compare equal.
  const std::string default_port = out.scheme == "https" ? ":443" : ":80";
  if (lower.size() > default_port.size() &&
      lower.compare(lower.size() - default_port.size(), default_port.size(), default_port) == 0 &&
      lower[lower.size() - default_port.size() - 1] != ':') {
    lower.resize(lower.size() - default_port.size());
  }
  if (lower.empty() || lower.front() == ':') return std::nullopt;
  out.authority = std::move(lower);
  return out;
}

}  // namespace

std::optional<std::string> OriginOf(std::string_view url) {
  std::optional<Split> split = SplitUrl(url);
  if (!split) return std::nullopt;
  return absl::StrCat(split->scheme, "://", split->authority);
}

std::optional<std::string> OnOrigin(std::string_view url, std::string_view origin) {
  std::optional<Split> split = SplitUrl(url);
  if (!split || absl::StrCat(split->scheme, "://", split->authority) != ToAbsl(origin)) {
    return std::nullopt;
  }
  return absl::StrCat(ToAbsl(origin), ToAbsl(split->rest));
}

absl::StatusOr<std::string> InstanceOrigin(std::string_view instance_url) {
  std::optional<Split> split = SplitUrl(instance_url);
  if (!split || !(split->rest.empty() || split->rest == "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ServiceNow instance URL must be an http(s) origin such as "
                     "https://acme.service-now.com, got \"",
                     ToAbsl(instance_url.substr(0, 200)), "\""));
  }
  return absl::StrCat(split->scheme, "://", split->authority);
}

}  // namespace onsync::clients::servicenow
