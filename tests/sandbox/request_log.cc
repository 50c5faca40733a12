#include "tests/sandbox/request_log.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"
#include "tests/sandbox/json_util.h"

namespace onsync::sandbox {

std::string_view FakeName(FakeKind fake) {
  return fake == FakeKind::kServiceNow ? "servicenow" : "onspring";
}

void RequestLog::Add(RequestLogEntry entry) {
  absl::MutexLock lock(&mu_);
  entry.sequence = next_sequence_++;
  ++counts_[{entry.fake, entry.route}];
  entries_.push_back(std::move(entry));
  while (entries_.size() > capacity_) entries_.pop_front();
}

std::vector<RequestLogEntry> RequestLog::Entries(std::optional<FakeKind> fake) const {
  absl::MutexLock lock(&mu_);
  std::vector<RequestLogEntry> result;
  for (const RequestLogEntry& entry : entries_) {
    if (!fake.has_value() || entry.fake == *fake) result.push_back(entry);
  }
  return result;
}

std::map<std::string, int64_t> RequestLog::Counts(FakeKind fake) const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, int64_t> result;
  for (const auto& [key, count] : counts_) {
    if (key.first == fake) result[key.second] = count;
  }
  return result;
}

int64_t RequestLog::Count(FakeKind fake, std::string_view route) const {
  absl::MutexLock lock(&mu_);
  const auto it = counts_.find({fake, std::string(route)});
  return it == counts_.end() ? 0 : it->second;
}

void RequestLog::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
  counts_.clear();
}

std::string RequestLog::ToJson(std::optional<FakeKind> fake) const {
  absl::MutexLock lock(&mu_);
  JsonWriter out;
  out.StartObject().Key("requests").StartArray();
  for (const RequestLogEntry& entry : entries_) {
    if (fake.has_value() && entry.fake != *fake) continue;
    out.StartObject()
        .Member("sequence", static_cast<int64_t>(entry.sequence))
        .Member("fake", FakeName(entry.fake))
        .Member("time", FormatLogTime(entry.time))
        .Member("method", entry.method)
        .Member("path", entry.path)
        .Member("route", entry.route);
    out.Key("query").StartObject();
    for (const auto& [key, value] : entry.query) out.Member(key, value);
    out.EndObject();
    out.Key("query_list").StartArray();
    for (const auto& [key, value] : entry.query) {
      out.StartArray().String(key).String(value).EndArray();
    }
    out.EndArray();
    out.Key("headers").StartObject();
    for (const auto& [key, value] : entry.headers) out.Member(key, value);
    out.EndObject();
    out.Member("auth", entry.auth).Member("user", entry.user).Member("body", entry.body);
    out.Member("status", entry.status).Member("fault", entry.fault);
    out.Member("delay_ms", entry.delay_ms);
    out.EndObject();
  }
  out.EndArray();
  int64_t total = 0;
  out.Key("counts").StartObject();
  for (const auto& [key, count] : counts_) {
    if (fake.has_value() && key.first != *fake) continue;
    const std::string name =
        fake.has_value() ? key.second : absl::StrCat(ToAbsl(FakeName(key.first)), " ", key.second);
    out.Member(name, count);
    total += count;
  }
  out.EndObject();
  out.Member("total", total);
  out.EndObject();
  return out.str();
}

std::string MaskHeader(std::string_view name, std::string_view value) {
  const absl::string_view n = ToAbsl(name);
  if (absl::EqualsIgnoreCase(n, "authorization") ||
      absl::EqualsIgnoreCase(n, "proxy-authorization")) {
    const size_t space = value.find(' ');
    if (space == std::string_view::npos) return "[REDACTED]";
    return absl::StrCat(ToAbsl(value.substr(0, space)), " [REDACTED]");
  }
  if (absl::EqualsIgnoreCase(n, "cookie") || absl::EqualsIgnoreCase(n, "set-cookie") ||
      absl::EqualsIgnoreCase(n, "x-apikey") || absl::EqualsIgnoreCase(n, "x-api-key") ||
      absl::EqualsIgnoreCase(n, "x-sn-apikey")) {
    return "[REDACTED]";
  }
  return std::string(value);
}

std::string FormatLogTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
}

}  // namespace onsync::sandbox
