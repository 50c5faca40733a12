#include "tests/sandbox/url.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/string_view.h"

namespace onsync::sandbox {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

std::vector<QueryParam> ParseQuery(std::string_view query) {
  std::vector<QueryParam> params;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(query), '&')) {
    if (pair.empty()) continue;
    QueryParam param;
    param.raw = std::string(pair);
    const size_t equals = pair.find('=');
    if (equals == absl::string_view::npos) {
      param.key = PercentDecode(ToStd(pair), /*plus_is_space=*/true);
    } else {
      param.key = PercentDecode(ToStd(pair.substr(0, equals)), /*plus_is_space=*/true);
      param.value = PercentDecode(ToStd(pair.substr(equals + 1)), /*plus_is_space=*/true);
    }
    params.push_back(std::move(param));
  }
  return params;
}

std::vector<std::string> PathSegments(std::string_view path) {
  std::vector<std::string> segments;
  for (absl::string_view segment : absl::StrSplit(ToAbsl(path), '/')) {
    if (segment.empty()) continue;
    segments.push_back(PercentDecode(ToStd(segment), /*plus_is_space=*/false));
  }
  return segments;
}

std::optional<std::string> FindParam(const std::vector<QueryParam>& params, std::string_view key,
                                     bool ignore_case) {
  for (const QueryParam& param : params) {
    if (ignore_case ? absl::EqualsIgnoreCase(param.key, ToAbsl(key)) : param.key == key) {
      return param.value;
    }
  }
  return std::nullopt;
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t n = (static_cast<uint8_t>(data[i]) << 16) |
                       (static_cast<uint8_t>(data[i + 1]) << 8) | static_cast<uint8_t>(data[i + 2]);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back(kBase64Alphabet[n & 63]);
  }
  if (i + 1 == data.size()) {
    const uint32_t n = static_cast<uint8_t>(data[i]) << 16;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.append("==");
  } else if (i + 2 == data.size()) {
    const uint32_t n =
        (static_cast<uint8_t>(data[i]) << 16) | (static_cast<uint8_t>(data[i + 1]) << 8);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(kBase64Alphabet[(n >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (value < 0) return absl::InvalidArgumentError("invalid Base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return absl::InvalidArgumentError("invalid Base64 length");
  return out;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", ToAbsl(address), "\" is not HOST:PORT"));
  }
  HostPort result;
  result.host = std::string(address.substr(0, colon));
  if (!absl::SimpleAtoi(ToAbsl(address.substr(colon + 1)), &result.port) || result.port < 0 ||
      result.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", ToAbsl(address), "\" has an invalid port"));
  }
  return result;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(ToAbsl(host), "127.") ||
         absl::StartsWith(ToAbsl(host), "::ffff:127.");
}

bool IsLoopbackRemote(std::string_view remote_address) {
  const size_t colon = remote_address.rfind(':');
  if (colon == std::string_view::npos) return false;
  return IsLoopbackHost(remote_address.substr(0, colon));
}

}  // namespace onsync::sandbox
