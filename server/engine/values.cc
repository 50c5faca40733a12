#include "server/engine/values.h"

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/string_view.h"

namespace onsync::engine {
namespace {

std::string_view Trim(std::string_view text) {
  return ToStd(absl::StripAsciiWhitespace(ToAbsl(text)));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Counts the digits starting at `pos`.
size_t Digits(std::string_view text, size_t pos) {
  size_t n = 0;
  while (pos + n < text.size() && IsDigit(text[pos + n])) ++n;
  return n;
}

// True when `text` is `[+-]?(D+(.D*)?|.D+)([eE][+-]?D+)?`.
bool IsDecimal(std::string_view text) {
  size_t pos = 0;
  if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
  const size_t int_digits = Digits(text, pos);
  pos += int_digits;
  size_t frac_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    frac_digits = Digits(text, pos);
    pos += frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    const size_t exp_digits = Digits(text, pos);
    if (exp_digits == 0) return false;
    pos += exp_digits;
  }
  return pos == text.size();
}

// Parses exactly `width` digits at `pos`; -1 if any is not a digit.
int Field(std::string_view text, size_t pos, size_t width) {
  int value = 0;
  for (size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (!IsDigit(c)) return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

absl::StatusOr<double> ParseNumber(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  if (trimmed.empty()) return absl::InvalidArgumentError("not a number: empty value");
  if (!IsDecimal(trimmed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a decimal number: \"", ToAbsl(trimmed), "\""));
  }
  // std::from_chars accepts a leading '-' but not '+'.
  std::string_view digits = trimmed;
  if (digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value,
                                         std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    return absl::InvalidArgumentError(
        absl::StrCat("number out of range: \"", ToAbsl(trimmed), "\""));
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a decimal number: \"", ToAbsl(trimmed), "\""));
  }
  return value;
}

absl::StatusOr<std::string> ToIsoUtc(std::string_view servicenow_datetime) {
  const std::string_view text = Trim(servicenow_datetime);
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a ServiceNow date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS): \"", ToAbsl(text),
                     "\": ", ToAbsl(why)));
  };
  // Positions: YYYY-MM-DD HH:MM:SS
  //            0123456789012345678
  if (text.size() != 10 && text.size() != 19) return invalid("wrong length");
  if (text[4] != '-' || text[7] != '-') return invalid("wrong date separators");
  const int year = Field(text, 0, 4);
  const int month = Field(text, 5, 2);
  const int day = Field(text, 8, 2);
  int hour = 0, minute = 0, second = 0;
  if (text.size() == 19) {
    if (text[10] != ' ' || text[13] != ':' || text[16] != ':') {
      return invalid("wrong time separators");
    }
    hour = Field(text, 11, 2);
    minute = Field(text, 14, 2);
    second = Field(text, 17, 2);
  }
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return invalid("non-digit in a numeric field");
  }
  if (year == 0) return invalid("year out of range");
  // CivilSecond normalizes out-of-range fields (month 13 -> January of the next year); a value
  // is valid exactly when normalization leaves every field as written.
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.year() != year || civil.month() != month || civil.day() != day ||
      civil.hour() != hour || civil.minute() != minute || civil.second() != second) {
    return invalid("field out of range");
  }
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02dZ", year, month, day, hour, minute, second);
}

std::vector<std::string> SplitEntries(std::string_view value, std::string_view separator) {
  std::vector<std::string> entries;
  auto add = [&entries](std::string_view entry) {
    const std::string_view trimmed = Trim(entry);
    if (trimmed.empty()) return;
    for (const std::string& existing : entries) {
      if (existing == trimmed) return;
    }
    entries.emplace_back(trimmed);
  };
  if (separator.empty()) {
    add(value);
    return entries;
  }
  size_t start = 0;
  while (true) {
    const size_t end = value.find(separator, start);
    if (end == std::string_view::npos) {
      add(value.substr(start));
      break;
    }
    add(value.substr(start, end - start));
    start = end + separator.size();
  }
  return entries;
}

std::string JoinEntries(const std::vector<std::string>& entries, std::string_view joiner) {
  return absl::StrJoin(entries, ToAbsl(joiner));
}

}  // namespace onsync::engine
