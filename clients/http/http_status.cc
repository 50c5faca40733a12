#include "clients/http/http_status.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/http/redact.h"
#include "clients/http/retry_policy.h"
#include "common/string_view.h"

namespace onsync::clients {
namespace {

absl::StatusCode CodeForHttpStatus(int http_status) {
  if (http_status >= 200 && http_status <= 299) return absl::StatusCode::kOk;
  switch (http_status) {
    case 400:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
    case 429:
    case 499:
      return absl::StatusCode::kUnavailable;
    case 409:
      return absl::StatusCode::kAborted;
    default:
      break;
  }
  if (http_status >= 400 && http_status <= 499) return absl::StatusCode::kFailedPrecondition;
  if (http_status >= 500 && http_status <= 599) return absl::StatusCode::kUnavailable;
  if (http_status >= 100 && http_status <= 399) return absl::StatusCode::kFailedPrecondition;
  return absl::StatusCode::kUnknown;
}

std::optional<int64_t> IntPayload(const absl::Status& status, std::string_view url) {
  const auto payload = status.GetPayload(ToAbsl(url));  // an absl::optional<absl::Cord>
  if (!payload.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return value;
}

// --- SummarizeBody helpers ---

bool LooksLikeMarkup(std::string_view body) {
  const std::string_view trimmed = ToStd(absl::StripLeadingAsciiWhitespace(ToAbsl(body)));
  if (!trimmed.empty() && trimmed.front() == '<') return true;
  const std::string head = absl::AsciiStrToLower(ToAbsl(body.substr(0, 512)));
  return head.find("<html") != std::string::npos || head.find("<!doctype") != std::string::npos;
}

bool LooksBinary(std::string_view body) {
  size_t suspicious = 0;
  const std::string_view sample = body.substr(0, 1024);
  for (const char c : sample) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == 0) return true;
    if (byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r' && byte != '\f') ++suspicious;
  }
  return suspicious * 10 > sample.size();  // more than 10% control characters
}

// Length of the valid UTF-8 sequence starting at text[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto lead = static_cast<unsigned char>(text[i]);
  size_t length = 0;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  return length;
}

// Drops tags and the contents of <script>/<style>; decodes a few common entities.
std::string StripMarkup(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c == '<') {
      const std::string_view rest = body.substr(i);
      for (const std::string_view element :
           {std::string_view("script"), std::string_view("style")}) {
        if (rest.size() > element.size() + 1 &&
            absl::StartsWithIgnoreCase(ToAbsl(rest.substr(1)), ToAbsl(element))) {
          const std::string closing = absl::StrCat("</", ToAbsl(element));
          const absl::string_view haystack = ToAbsl(rest);
          size_t close = std::string_view::npos;
          for (size_t k = 1; k + closing.size() <= haystack.size(); ++k) {
            if (absl::StartsWithIgnoreCase(haystack.substr(k), closing)) {
              close = k;
              break;
            }
          }
          if (close == std::string_view::npos) return out;  // unterminated: drop the rest
          i += close;
          break;
        }
      }
      const size_t tag_end = body.find('>', i);
      if (tag_end == std::string_view::npos) break;  // unterminated tag: drop the rest
      out.push_back(' ');
      i = tag_end + 1;
      continue;
    }
    if (c == '&') {
      static constexpr struct {
        std::string_view entity;
        char replacement;
      } kEntities[] = {{"&amp;", '&'},  {"&lt;", '<'},    {"&gt;", '>'},  {"&quot;", '"'},
                       {"&#39;", '\''}, {"&apos;", '\''}, {"&nbsp;", ' '}};
      bool decoded = false;
      for (const auto& [entity, replacement] : kEntities) {
        if (body.substr(i, entity.size()) == entity) {
          out.push_back(replacement);
          i += entity.size();
          decoded = true;
          break;
        }
      }
      if (decoded) continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

absl::Status StatusFromHttp(int http_status, std::string_view message) {
  const absl::StatusCode code = CodeForHttpStatus(http_status);
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  std::string text = absl::StrCat("upstream answered HTTP ", http_status);
  if (!message.empty()) absl::StrAppend(&text, ": ", Redact(message));
  absl::Status status(code, text);
  status.SetPayload(ToAbsl(kHttpStatusPayloadUrl), absl::Cord(absl::StrCat(http_status)));
  return status;
}

absl::Status StatusFromHttpResponse(const HttpResponse& response, absl::Time now) {
  absl::Status status = StatusFromHttp(response.status, SummarizeBody(response.body));
  if (status.ok()) return status;
  if (const std::optional<std::string_view> header = response.Header("retry-after")) {
    if (const std::optional<absl::Duration> delay = ParseRetryAfter(*header, now)) {
      status = WithRetryAfter(std::move(status), *delay);
    }
  }
  return status;
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  const std::optional<int64_t> value = IntPayload(status, kHttpStatusPayloadUrl);
  if (!value.has_value()) return std::nullopt;
  return static_cast<int>(*value);
}

std::string SummarizeBody(std::string_view body, size_t max) {
  if (body.empty()) return "";
  if (LooksBinary(body)) return absl::StrCat("(", body.size(), " bytes of binary data)");
  // Bound the work on huge bodies: only the beginning can end up in the summary anyway (markup
  // and whitespace shrink it, so look well past `max`).
  const size_t window = max > (size_t{1} << 16) ? max : size_t{1} << 16;
  std::string_view view = body.substr(0, window);
  std::string text = LooksLikeMarkup(view) ? StripMarkup(view) : std::string(view);

  std::string out;
  out.reserve(text.size() < max + 4 ? text.size() : max + 4);
  bool pending_space = false;
  bool truncated = false;
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7F || byte == ' ') {
      pending_space = !out.empty();
      ++i;
      continue;
    }
    size_t length = Utf8SequenceLength(text, i);
    std::string_view piece =
        length == 0 ? std::string_view("?") : std::string_view(text).substr(i, length);
    const size_t needed = piece.size() + (pending_space ? 1 : 0);
    if (out.size() + needed > max) {
      truncated = true;
      break;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.append(piece);
    i += length == 0 ? 1 : length;
  }
  if (!truncated && body.size() > window) truncated = true;
  if (truncated) out.append("...");
  return out;
}

}  // namespace onsync::clients
