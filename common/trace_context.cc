#include "common/trace_context.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"

namespace onsync {
namespace {

constexpr size_t kTraceIdDigits = 32;
constexpr size_t kParentIdDigits = 16;
// "00-" + trace id + "-" + parent id + "-" + flags.
constexpr size_t kVersion00Length = 3 + kTraceIdDigits + 1 + kParentIdDigits + 1 + 2;

bool IsLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
  });
}

bool AllZero(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string RandomHex(size_t digits) {
  static constexpr std::array<char, 16> kDigits = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                   '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  thread_local absl::BitGen generator;
  std::string hex;
  hex.reserve(digits);
  while (hex.size() < digits) {
    uint64_t bits = absl::Uniform<uint64_t>(generator);
    for (int i = 0; i < 16 && hex.size() < digits; ++i, bits >>= 4)
      hex.push_back(kDigits[bits & 15]);
  }
  // An all-zero id is invalid; the chance is 2^-64 or less, but the result must be valid.
  if (AllZero(hex)) hex.back() = '1';
  return hex;
}

}  // namespace

std::string TraceContext::ToTraceparent() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string header;
  header.reserve(kVersion00Length);
  header.append("00-").append(trace_id).append("-").append(parent_id).append("-");
  header.push_back(kDigits[flags >> 4]);
  header.push_back(kDigits[flags & 15]);
  return header;
}

std::optional<TraceContext> ParseTraceparent(std::string_view header) {
  if (header.size() < kVersion00Length) return std::nullopt;
  const std::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version) || version == "ff" || header[2] != '-') return std::nullopt;
  // Version 00 is exactly this long; a later version may append "-..." fields.
  if (version == "00" ? header.size() != kVersion00Length
                      : header.size() > kVersion00Length && header[kVersion00Length] != '-') {
    return std::nullopt;
  }
  const std::string_view trace_id = header.substr(3, kTraceIdDigits);
  const std::string_view parent_id = header.substr(3 + kTraceIdDigits + 1, kParentIdDigits);
  const std::string_view flags = header.substr(kVersion00Length - 2, 2);
  if (header[3 + kTraceIdDigits] != '-' || header[kVersion00Length - 3] != '-' ||
      !IsLowerHex(trace_id) || !IsLowerHex(parent_id) || !IsLowerHex(flags) || AllZero(trace_id) ||
      AllZero(parent_id)) {
    return std::nullopt;
  }
  return TraceContext{.trace_id = std::string(trace_id),
                      .parent_id = std::string(parent_id),
                      .flags = static_cast<uint8_t>(HexValue(flags[0]) * 16 + HexValue(flags[1]))};
}

TraceContext NewTrace() {
  return TraceContext{
      .trace_id = RandomHex(kTraceIdDigits), .parent_id = RandomHex(kParentIdDigits), .flags = 1};
}

TraceContext ChildOf(const TraceContext& parent) {
  return TraceContext{
      .trace_id = parent.trace_id, .parent_id = RandomHex(kParentIdDigits), .flags = parent.flags};
}

TraceContext ContinueOrStartTrace(std::optional<std::string_view> header) {
  if (header.has_value()) {
    if (std::optional<TraceContext> parent = ParseTraceparent(*header)) return ChildOf(*parent);
  }
  return NewTrace();
}

std::string TraceIdOf(std::string_view traceparent) {
  std::optional<TraceContext> parsed = ParseTraceparent(traceparent);
  return parsed.has_value() ? std::move(parsed->trace_id) : std::string();
}

}  // namespace onsync
