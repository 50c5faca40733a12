#include "server/config/config_loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/engine/template.h"

namespace onsync::config {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::EnumDescriptor;
using ::google::protobuf::EnumValueDescriptor;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::Message;
using ::google::protobuf::OneofDescriptor;
using ::google::protobuf::Reflection;

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view), so
// the public std::string_view parameters are converted once at the boundary.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A status message lists at most this many problems; the rest are counted.
constexpr size_t kMaxReportedIssues = 20;
// The converter gives up after this many problems (a list of a million bad items).
constexpr size_t kMaxCollectedIssues = 200;
// Aliases can expand a small file into a huge tree ("billion laughs"); the converter stops once
// the JSON it emits passes this size. Real configs are a few hundred KiB at most.
constexpr size_t kMaxJsonBytes = kMaxConfigBytes;
// google.protobuf.Duration's range: +-10,000 years.
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;

// ---------------------------------------------------------------------------------------------
// Problems and paths
// ---------------------------------------------------------------------------------------------

// One problem: the key path, the reason, and (when known) the 1-based YAML line.
struct Issue {
  std::string path;
  std::string reason;
  int line = 0;
};

// Collects every problem of one stage and renders them as one INVALID_ARGUMENT status.
class Issues {
 public:
  void Add(std::string path, std::string reason, int line = 0) {
    issues_.push_back(Issue{std::move(path), std::move(reason), line});
  }
  bool empty() const { return issues_.empty(); }
  size_t size() const { return issues_.size(); }
  std::vector<Issue>& items() { return issues_; }

  absl::Status ToStatus() const {
    if (issues_.empty()) return absl::OkStatus();
    std::string message;
    const size_t shown = std::min(issues_.size(), kMaxReportedIssues);
    for (size_t i = 0; i < shown; ++i) {
      const Issue& issue = issues_[i];
      absl::StrAppend(&message, i == 0 ? "" : "; ", issue.path.empty() ? "(top level)" : issue.path,
                      ": ", issue.reason);
      if (issue.line > 0) absl::StrAppend(&message, " (line ", issue.line, ")");
    }
    if (issues_.size() > shown) {
      absl::StrAppend(&message, "; and ", issues_.size() - shown, " more problems");
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  std::vector<Issue> issues_;
};

std::string Child(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

// A value quoted for a message, shortened: values in messages help people find the typo, but a
// config value can be long (and secret keys are never echoed: they never fail a type check).
std::string Quote(absl::string_view value) {
  constexpr size_t kMax = 40;
  std::string shown(value.substr(0, kMax));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return absl::StrCat("\"", shown, value.size() > kMax ? "...\"" : "\"");
}

// ---------------------------------------------------------------------------------------------
// Scalar syntax shared by the converter and the validator
// ---------------------------------------------------------------------------------------------

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xF]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// An integer written in decimal, optionally signed; no spaces, no exponent, no underscores.
bool LooksLikeInteger(absl::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

std::optional<bool> ParseBool(absl::string_view s) {
  if (absl::EqualsIgnoreCase(s, "true")) return true;
  if (absl::EqualsIgnoreCase(s, "false")) return false;
  return std::nullopt;
}

// Parses `30s`, `1.5s`, `250ms`, `5m`, `2h`, `1h30m` (Go's syntax: units ns, us/µs, ms, s, m, h;
// a bare `0`) into proto JSON's "<seconds>[.<fraction>]s" form. Returns the reason on failure.
std::optional<std::string> DurationToJson(absl::string_view text, std::string* reason) {
  static constexpr char kExpected[] = "expected a duration like 30s, 1.5s, 250ms, 5m or 2h";
  using Int128 = __int128;
  absl::string_view s = text;
  if (!s.empty() && s[0] == '-') {
    *reason = "must not be negative";
    return std::nullopt;
  }
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s == "0") return std::string("0s");
  if (s.empty()) {
    *reason = kExpected;
    return std::nullopt;
  }
  constexpr Int128 kNanosPerSecond = 1'000'000'000;
  constexpr Int128 kMaxNanos = static_cast<Int128>(kMaxDurationSeconds) * kNanosPerSecond;
  struct Unit {
    absl::string_view name;
    int64_t nanos;
  };
  // Two-letter units first so that "ms" is not read as "m" followed by garbage.
  static constexpr Unit kUnits[] = {
      {"ns", 1},
      {"us", 1'000},
      {"\xC2\xB5s", 1'000},
      {"\xCE\xBCs", 1'000},
      {"ms", 1'000'000},
      {"s", 1'000'000'000LL},
      {"m", 60'000'000'000LL},
      {"h", 3'600'000'000'000LL},
  };
  Int128 total = 0;
  while (!s.empty()) {
    size_t i = 0;
    Int128 whole = 0;
    size_t whole_digits = 0;
    while (i < s.size() && absl::ascii_isdigit(s[i])) {
      if (++whole_digits > 15) {
        *reason = "is too large (at most 10000 years)";
        return std::nullopt;
      }
      whole = whole * 10 + (s[i++] - '0');
    }
    Int128 fraction = 0;
    Int128 fraction_scale = 1;
    size_t fraction_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && absl::ascii_isdigit(s[i])) {
        if (fraction_scale < static_cast<Int128>(1'000'000'000'000'000'000LL)) {
          fraction = fraction * 10 + (s[i] - '0');
          fraction_scale *= 10;
        }
        ++fraction_digits;
        ++i;
      }
    }
    if (whole_digits == 0 && fraction_digits == 0) {
      *reason = kExpected;
      return std::nullopt;
    }
    s.remove_prefix(i);
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (absl::StartsWith(s, u.name)) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      *reason = absl::StrCat(kExpected, " (units: ns, us, ms, s, m, h)");
      return std::nullopt;
    }
    s.remove_prefix(unit->name.size());
    total += whole * unit->nanos + fraction * unit->nanos / fraction_scale;
    if (total > kMaxNanos) {
      *reason = "is too large (at most 10000 years)";
      return std::nullopt;
    }
  }
  const int64_t seconds = static_cast<int64_t>(total / kNanosPerSecond);
  int64_t nanos = static_cast<int64_t>(total % kNanosPerSecond);
  if (nanos == 0) return absl::StrCat(seconds, "s");
  // Proto JSON wants 3, 6 or 9 fractional digits.
  int digits = 9;
  while (digits > 3 && nanos % 1000 == 0) {
    nanos /= 1000;
    digits -= 3;
  }
  std::string fraction = absl::StrCat(nanos);
  fraction.insert(0, static_cast<size_t>(digits) - fraction.size(), '0');
  return absl::StrCat(seconds, ".", fraction, "s");
}

// "OnMissing" -> "ON_MISSING": the buf-style prefix of the enum's value names.
std::string UpperSnake(absl::string_view camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    const char c = camel[i];
    if (i > 0 && absl::ascii_isupper(c) &&
        (absl::ascii_islower(camel[i - 1]) || absl::ascii_isdigit(camel[i - 1]))) {
      out.push_back('_');
    }
    out.push_back(absl::ascii_toupper(c));
  }
  return out;
}

// The name people may write for `value`: without the enum's prefix, lower case.
std::string ShortEnumName(const EnumValueDescriptor& value) {
  const std::string prefix = UpperSnake(value.type()->name()) + "_";
  absl::string_view name = value.name();
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

// Accepts the full value name or the name without the enum's prefix, case-insensitively. The
// zero (`*_UNSPECIFIED`) value is not accepted: leaving the key out means the same.
const EnumValueDescriptor* FindEnumValue(const EnumDescriptor& type, absl::string_view text) {
  for (int i = 0; i < type.value_count(); ++i) {
    const EnumValueDescriptor* value = type.value(i);
    if (value->number() == 0) continue;
    if (absl::EqualsIgnoreCase(text, value->name()) ||
        absl::EqualsIgnoreCase(text, ShortEnumName(*value))) {
      return value;
    }
  }
  return nullptr;
}

std::string KnownEnumValues(const EnumDescriptor& type) {
  std::vector<std::string> names;
  for (int i = 0; i < type.value_count(); ++i) {
    if (type.value(i)->number() != 0) names.push_back(ShortEnumName(*type.value(i)));
  }
  return absl::StrJoin(names, ", ");
}

bool IsDuration(const Descriptor& type) {
  return type.full_name() == google::protobuf::Duration::descriptor()->full_name();
}

// ---------------------------------------------------------------------------------------------
// YAML -> JSON
// ---------------------------------------------------------------------------------------------

// Where a canonical key path (proto field names) was written in the YAML; lets validation
// problems, found on the parsed proto, be reported with the keys and line the user wrote.
struct Written {
  std::string path;
  int line = 0;
};
using WrittenPaths = std::map<std::string, Written, std::less<>>;

// A position in the document: the canonical path, the path as written, the 1-based line.
struct Path {
  std::string canonical;
  std::string written;
  int line = 0;
};

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

absl::string_view KindOf(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

// Walks a YAML tree and the descriptor of the message it should become, emitting JSON. Records
// every problem and keeps going, so one run reports them all.
class YamlToJsonConverter {
 public:
  // `written` (may be null) receives where every key was written.
  explicit YamlToJsonConverter(WrittenPaths* written) : written_(written) {}

  // Converts `root` (a null node is an empty message); the JSON is valid only when no problem
  // was recorded.
  void Convert(const YAML::Node& root, const Descriptor& type) { EmitMessage(root, type, Path{}); }

  std::string& json() { return out_; }
  Issues& issues() { return issues_; }

 private:
  // Stops the walk when the output or the problem count runs away.
  bool Stopped() {
    if (stopped_) return true;
    if (out_.size() > kMaxJsonBytes) {
      issues_.Add("", absl::StrCat("the config is too large (over ", kMaxJsonBytes >> 20,
                                   " MiB once aliases are expanded)"));
      stopped_ = true;
    } else if (issues_.size() >= kMaxCollectedIssues) {
      stopped_ = true;
    }
    return stopped_;
  }

  void Fail(const Path& path, std::string reason) {
    issues_.Add(path.written, std::move(reason), path.line);
  }

  void Record(const Path& path) {
    if (written_ != nullptr) written_->emplace(path.canonical, Written{path.written, path.line});
  }

  static const FieldDescriptor* FindField(const Descriptor& type, absl::string_view key) {
    for (int i = 0; i < type.field_count(); ++i) {
      const FieldDescriptor* field = type.field(i);
      if (field->name() == key || field->json_name() == key) return field;
    }
    return nullptr;
  }

  static std::string KnownKeys(const Descriptor& type) {
    std::vector<std::string> names;
    for (int i = 0; i < type.field_count(); ++i) names.push_back(type.field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  void EmitMessage(const YAML::Node& node, const Descriptor& type, const Path& path) {
    if (node.IsNull()) {
      out_.append("{}");
      return;
    }
    if (!node.IsMap()) {
      Fail(path, absl::StrCat("expected a mapping, got ", KindOf(node)));
      return;
    }
    out_.push_back('{');
    bool first = true;
    std::map<int, std::string> seen_fields;                // field number -> key as written
    std::map<const OneofDescriptor*, std::string> oneofs;  // oneof -> member key as written
    for (auto it = node.begin(); it != node.end() && !Stopped(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair; references into it dangle.
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      if (!key_node.IsScalar()) {
        Fail(Path{path.canonical, path.written, LineOf(key_node)},
             absl::StrCat("keys must be scalars, got ", KindOf(key_node)));
        continue;
      }
      const std::string& key = key_node.Scalar();
      const FieldDescriptor* field = FindField(type, key);
      Path child{"", Child(path.written, key), LineOf(key_node)};
      if (field == nullptr) {
        Fail(child, key == "<<" ? "YAML merge keys are not supported; alias the whole value"
                                : absl::StrCat("unknown key (known: ", KnownKeys(type), ")"));
        continue;
      }
      child.canonical = Child(path.canonical, field->name());
      if (auto [seen, inserted] = seen_fields.emplace(field->number(), key); !inserted) {
        Fail(child, seen->second == key
                        ? "duplicate key"
                        : absl::StrCat("duplicate key (also set as ", seen->second, ")"));
        continue;
      }
      if (const OneofDescriptor* oneof = field->real_containing_oneof(); oneof != nullptr) {
        if (auto [other, inserted] = oneofs.emplace(oneof, key); !inserted) {
          std::vector<std::string> members;
          for (int i = 0; i < oneof->field_count(); ++i) members.push_back(oneof->field(i)->name());
          Fail(child, absl::StrCat("conflicts with ", other->second, " (set only one of ",
                                   absl::StrJoin(members, ", "), ")"));
          continue;
        }
      }
      Record(child);
      // A null scalar, list, map or duration means "not set"; a null message is an empty one
      // (it still selects a oneof member: `text:` or `list: {}`).
      const bool is_plain_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                                    !field->is_repeated() && !IsDuration(*field->message_type());
      if (value.IsNull() && !is_plain_message) continue;
      if (!first) out_.push_back(',');
      first = false;
      AppendJsonString(field->name(), &out_);
      out_.push_back(':');
      EmitField(value, *field, child);
    }
    out_.push_back('}');
  }

  // One key's value: a map, a list or a single value.
  void EmitField(const YAML::Node& node, const FieldDescriptor& field, const Path& path) {
    if (field.is_map()) {
      EmitMap(node, field, path);
    } else if (field.is_repeated()) {
      if (!node.IsSequence()) {
        Fail(path, absl::StrCat("expected a list, got ", KindOf(node)));
        return;
      }
      out_.push_back('[');
      size_t i = 0;
      for (auto it = node.begin(); it != node.end() && !Stopped(); ++it, ++i) {
        const YAML::Node item = *it;
        if (i > 0) out_.push_back(',');
        const Path child{Index(path.canonical, i), Index(path.written, i), LineOf(item)};
        Record(child);
        EmitValue(item, field, child);
      }
      out_.push_back(']');
    } else {
      EmitValue(node, field, path);
    }
  }

  void EmitMap(const YAML::Node& node, const FieldDescriptor& field, const Path& path) {
    if (!node.IsMap()) {
      Fail(path, absl::StrCat("expected a mapping, got ", KindOf(node)));
      return;
    }
    const FieldDescriptor& key_field = *field.message_type()->map_key();
    const FieldDescriptor& value_field = *field.message_type()->map_value();
    out_.push_back('{');
    bool first = true;
    std::map<std::string, std::string> seen;  // canonical key -> key as written
    for (auto it = node.begin(); it != node.end() && !Stopped(); ++it) {
      const YAML::Node key_node = it->first;  // A copy, as above.
      const YAML::Node value = it->second;
      if (!key_node.IsScalar()) {
        Fail(Path{path.canonical, path.written, LineOf(key_node)},
             absl::StrCat("keys must be scalars, got ", KindOf(key_node)));
        continue;
      }
      const std::string& key = key_node.Scalar();
      Path child{"", Child(path.written, key), LineOf(key_node)};
      std::string canonical_key;
      if (key_field.cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        if (!IsValidUtf8(key)) {
          Fail(child, "the key is not valid UTF-8");
          continue;
        }
        canonical_key = key;
      } else if (key_field.cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
        const std::optional<bool> b = ParseBool(key);
        if (!b.has_value()) {
          Fail(child, "the key must be true or false");
          continue;
        }
        canonical_key = *b ? "true" : "false";
      } else {
        std::optional<std::string> number = IntegerJson(key, key_field);
        if (!number.has_value()) {
          Fail(child, absl::StrCat("the key must be an integer, got ", Quote(key)));
          continue;
        }
        canonical_key = std::move(*number);
        if (!canonical_key.empty() && canonical_key.front() == '"') {
          canonical_key = canonical_key.substr(1, canonical_key.size() - 2);
        }
      }
      child.canonical = Child(path.canonical, canonical_key);
      if (auto [other, inserted] = seen.emplace(canonical_key, key); !inserted) {
        Fail(child, other->second == key
                        ? "duplicate key"
                        : absl::StrCat("duplicate key (also written as ", other->second, ")"));
        continue;
      }
      Record(child);
      if (!first) out_.push_back(',');
      first = false;
      AppendJsonString(canonical_key, &out_);
      out_.push_back(':');
      EmitValue(value, value_field, child);
    }
    out_.push_back('}');
  }

  // The JSON of an integer for `field` (a number; a string for 64-bit types, as proto JSON
  // prefers), or nullopt when `text` is not an integer in the field's range.
  static std::optional<std::string> IntegerJson(absl::string_view text,
                                                const FieldDescriptor& field) {
    if (!LooksLikeInteger(text)) return std::nullopt;
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t v;
        if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
        return absl::StrCat(v);
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t v;
        if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
        return absl::StrCat(v);
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t v;
        if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
        return absl::StrCat("\"", v, "\"");
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t v;
        if (!absl::SimpleAtoi(text, &v)) return std::nullopt;
        return absl::StrCat("\"", v, "\"");
      }
      default:
        return std::nullopt;
    }
  }

  static absl::string_view IntegerRange(const FieldDescriptor& field) {
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        return " (32-bit signed)";
      case FieldDescriptor::CPPTYPE_UINT32:
        return " (32-bit unsigned)";
      case FieldDescriptor::CPPTYPE_UINT64:
        return " (64-bit unsigned)";
      default:
        return " (64-bit signed)";
    }
  }

  // A single value (a list item, a map value, or a singular field).
  void EmitValue(const YAML::Node& node, const FieldDescriptor& field, const Path& path) {
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const Descriptor& type = *field.message_type();
      if (!IsDuration(type)) {
        EmitMessage(node, type, path);
        return;
      }
      if (!node.IsScalar()) {
        Fail(path, absl::StrCat("expected a duration like 30s, got ", KindOf(node)));
        return;
      }
      std::string reason;
      std::optional<std::string> duration = DurationToJson(node.Scalar(), &reason);
      if (!duration.has_value()) {
        Fail(path, absl::StrCat(reason, ", got ", Quote(node.Scalar())));
        return;
      }
      AppendJsonString(*duration, &out_);
      return;
    }
    if (!node.IsScalar()) {
      Fail(path, absl::StrCat("expected a scalar, got ", KindOf(node)));
      return;
    }
    const std::string& text = node.Scalar();
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        // Never echo string values: this is where secrets live.
        if (!IsValidUtf8(text)) {
          Fail(path, "the value is not valid UTF-8");
          return;
        }
        AppendJsonString(text, &out_);
        return;
      case FieldDescriptor::CPPTYPE_BOOL: {
        const std::optional<bool> b = ParseBool(text);
        if (!b.has_value()) {
          Fail(path, absl::StrCat("expected a boolean (true or false), got ", Quote(text)));
          return;
        }
        out_.append(*b ? "true" : "false");
        return;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* value = FindEnumValue(*field.enum_type(), text);
        if (value == nullptr) {
          Fail(path, absl::StrCat("unknown value ", Quote(text),
                                  " (known: ", KnownEnumValues(*field.enum_type()), ")"));
          return;
        }
        AppendJsonString(value->name(), &out_);
        return;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double v;
        if (!absl::SimpleAtod(text, &v) || !std::isfinite(v) ||
            (field.cpp_type() == FieldDescriptor::CPPTYPE_FLOAT &&
             std::abs(v) > std::numeric_limits<float>::max())) {
          Fail(path, absl::StrCat("expected a number, got ", Quote(text)));
          return;
        }
        char buffer[32];
        std::snprintf(buffer, sizeof(buffer), "%.17g", v);
        out_.append(buffer);
        return;
      }
      default: {
        std::optional<std::string> number = IntegerJson(text, field);
        if (!number.has_value()) {
          Fail(path,
               absl::StrCat("expected an integer", IntegerRange(field), ", got ", Quote(text)));
          return;
        }
        out_.append(*number);
        return;
      }
    }
  }

  WrittenPaths* written_;
  std::string out_;
  Issues issues_;
  bool stopped_ = false;
};

// A hint for the one syntax error everybody makes: inside a flow mapping (`{...}`) the braces of
// an unquoted `${ENV}` reference end the scalar.
std::string SyntaxHint(absl::string_view yaml, int line) {
  const std::vector<absl::string_view> lines = absl::StrSplit(yaml, '\n');
  if (line < 0 || static_cast<size_t>(line) >= lines.size()) return "";
  const absl::string_view text = lines[static_cast<size_t>(line)];
  if (absl::StrContains(text, "${") && absl::StrContains(text, "{")) {
    return " (hint: quote ${ENV} references inside {...} mappings: key: \"${NAME}\")";
  }
  return "";
}

// Counts the documents of a stream without building them.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// The stream's first document and whether there is a second. Not YAML::LoadAll: in Debian's
// yaml-cpp (0.7) it loops forever, allocating all the while, on some malformed streams (a lone
// ',' is enough: jbeder/yaml-cpp#1040, fixed upstream after 0.8 by #1319), where the parser keeps
// reporting one more empty document. Found by the config_yaml fuzzer. Throws YAML::Exception.
std::pair<YAML::Node, bool> LoadFirstDocument(const std::string& yaml) {
  YAML::Node first = YAML::Load(yaml);
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentCounter counter;
  int documents = 0;
  while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
  return {std::move(first), documents > 1};
}

// Parses the YAML and converts it; problems (syntax included) go to the returned status.
absl::StatusOr<std::string> ConvertYaml(absl::string_view yaml, const Descriptor& type,
                                        WrittenPaths* written) {
  if (yaml.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("(top level): the config is larger than ", kMaxConfigBytes, " bytes"));
  }
  // yaml-cpp reports errors by throwing; nothing may escape this function.
  try {
    const auto [document, more] = LoadFirstDocument(std::string(yaml));
    if (more) {
      return absl::InvalidArgumentError(
          "(top level): expected one YAML document, found more (--- separators)");
    }
    YamlToJsonConverter converter(written);
    converter.Convert(document, type);
    if (!converter.issues().empty()) return converter.issues().ToStatus();
    return std::move(converter.json());
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return absl::InvalidArgumentError(absl::StrCat("YAML error: ", e.msg));
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ", column ",
                                                   e.mark.column + 1, ": YAML error: ", e.msg,
                                                   SyntaxHint(yaml, e.mark.line)));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("YAML error: ", e.what()));
  }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

// Shared by the rule functions below.
struct RuleContext {
  // Null when secrets are only checked for shape (inline profiles).
  const SecretSource* secrets;
  Issues* issues;

  void Add(const std::string& path, std::string reason) const {
    issues->Add(path, std::move(reason));
  }
};

int64_t TotalNanos(const google::protobuf::Duration& d) {
  return d.seconds() * 1'000'000'000 + d.nanos();
}

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '.' || c == '-' || c == '_'; }

// `host:port`, `[v6]:port`; port 0-65535 (0 lets tests bind an ephemeral port).
bool IsHostPort(absl::string_view s) {
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(s, "[")) {
    const size_t close = s.find(']');
    if (close == absl::string_view::npos || s.substr(close + 1, 1) != ":") return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
          return absl::ascii_isxdigit(c) || c == ':' || c == '.' || c == '%';
        })) {
      return false;
    }
  } else {
    const size_t colon = s.rfind(':');
    if (colon == absl::string_view::npos) return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsHostChar)) return false;
  }
  uint32_t number;
  return !port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), absl::ascii_isdigit) &&
         absl::SimpleAtoi(port, &number) && number <= 65535;
}

// An http(s) URL without credentials, query or fragment; `origin_only` also forbids a path
// beyond "/". Returns the problem, or empty. Never echoes the URL (it might carry credentials).
std::string CheckHttpUrl(absl::string_view url, bool origin_only) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "https://") && !absl::ConsumePrefix(&rest, "http://")) {
    const std::string lower = absl::AsciiStrToLower(url.substr(0, 8));
    if (!absl::StartsWith(lower, "https://") && !absl::StartsWith(lower, "http://")) {
      return "must be an http:// or https:// URL";
    }
    rest.remove_prefix(lower[4] == 's' ? 8 : 7);
  }
  if (std::any_of(url.begin(), url.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= ' '; })) {
    return "must not contain spaces or control characters";
  }
  const size_t end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, end);
  const absl::string_view tail = end == absl::string_view::npos ? "" : rest.substr(end);
  if (absl::StrContains(authority, '@')) {
    return "must not contain credentials (use the auth keys)";
  }
  bool host_ok;
  if (absl::StartsWith(authority, "[")) {  // [IPv6] or [IPv6]:port
    host_ok = absl::EndsWith(authority, "]") ? IsHostPort(absl::StrCat(authority, ":0"))
                                             : IsHostPort(authority);
  } else if (absl::StrContains(authority, ':')) {
    host_ok = IsHostPort(authority);
  } else {
    host_ok = !authority.empty() && std::all_of(authority.begin(), authority.end(), IsHostChar);
  }
  if (!host_ok) return "must have a valid host (and optional port)";
  if (tail.find_first_of("?#") != absl::string_view::npos) {
    return "must not have a query or fragment";
  }
  if (origin_only && !tail.empty() && tail != "/") {
    return "must be the instance's origin without a path, e.g. https://acme.service-now.com";
  }
  return "";
}

// --- Rule tables -----------------------------------------------------------------------------

using DescriptorFn = const Descriptor* (*)();

// Values that must be set: a string non-empty, a number non-zero, an enum not UNSPECIFIED, a
// message present, or (by a oneof's name) one member of the oneof set.
struct RequiredRule {
  DescriptorFn message;
  absl::string_view field;
};
constexpr RequiredRule kRequired[] = {
    {&v1::Profile::descriptor, "source"},
    {&v1::Source::descriptor, "table"},
    {&v1::Source::descriptor, "key_field"},
    {&v1::OutputField::descriptor, "from"},
    {&v1::ReferenceKind::descriptor, "app_id"},
    {&v1::ReferenceKind::descriptor, "match_field_id"},
    {&v1::TriggerExtraction::descriptor, "key"},
    {&v1::Schedule::descriptor, "every"},
    {&v1::ServiceNowConnection::descriptor, "instance_url"},
    {&v1::ServiceNowConnection::descriptor, "auth"},
    {&v1::ServiceNowAuth::descriptor, "method"},
    {&v1::BasicAuth::descriptor, "username"},
    {&v1::ServiceNowOAuth::descriptor, "grant_type"},
    {&v1::ServiceNowOAuth::descriptor, "client_id"},
    {&v1::OnspringConnection::descriptor, "base_url"},
    {&v1::CallerAuth::descriptor, "method"},
};

bool IsPasswordGrant(const Message& m) {
  return static_cast<const v1::ServiceNowOAuth&>(m).grant_type() ==
         v1::ServiceNowOAuth::GRANT_TYPE_PASSWORD;
}

// Secrets: the value key `field` (`${NAME}` only) and its `<field>_file` twin. `required_if`
// null means always required; otherwise the secret is required when it returns true (and may
// be left out otherwise, but is still checked when given).
struct SecretRule {
  DescriptorFn message;
  absl::string_view field;
  bool (*required_if)(const Message&);
};
constexpr SecretRule kSecrets[] = {
    {&v1::BasicAuth::descriptor, "password", nullptr},
    {&v1::ServiceNowOAuth::descriptor, "client_secret", nullptr},
    {&v1::ServiceNowOAuth::descriptor, "password", &IsPasswordGrant},
    {&v1::OnspringConnection::descriptor, "api_key", nullptr},
    {&v1::ApiKeyAuth::descriptor, "key", nullptr},
    {&v1::BearerAuth::descriptor, "token", nullptr},
    {&v1::SignedWebhookAuth::descriptor, "secret", nullptr},
    {&v1::PostgresStore::descriptor, "dsn", nullptr},
};

// Plain strings required only under a condition.
struct ConditionalRule {
  DescriptorFn message;
  absl::string_view field;
  bool (*required_if)(const Message&);
  absl::string_view reason;
};
constexpr ConditionalRule kConditional[] = {
    {&v1::ServiceNowOAuth::descriptor, "username", &IsPasswordGrant,
     "required with grant_type: password"},
};

// --- Per-type cross-field rules --------------------------------------------------------------

void CheckConfig(const RuleContext& ctx, const v1::Config& config, const std::string& path) {
  for (const auto& [name, profile] : config.profiles()) {
    const bool valid =
        !name.empty() && name.size() <= 63 && absl::ascii_islower(name[0]) &&
        std::all_of(name.begin(), name.end(), [](char c) {
          return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
        });
    if (!valid) {
      ctx.Add(Child(Child(path, "profiles"), name),
              "profile names must match [a-z][a-z0-9_-]{0,62}");
    }
  }
}

void CheckProfile(const RuleContext& ctx, const v1::Profile& profile, const std::string& path) {
  const bool writes = profile.mode() == v1::PROFILE_MODE_WRITE_BACK ||
                      profile.mode() == v1::PROFILE_MODE_ASYNC || profile.has_schedule();
  if (writes) {
    const std::string why =
        profile.has_schedule()
            ? "scheduled batch runs"
            : absl::StrCat(
                  "mode: ",
                  ShortEnumName(*v1::ProfileMode_descriptor()->FindValueByNumber(profile.mode())));
    const std::string target = Child(path, "target");
    if (profile.target().app_id() == 0) {
      ctx.Add(Child(target, "app_id"), absl::StrCat("required for ", why));
    }
    if (profile.target().key_field_id() == 0) {
      ctx.Add(Child(target, "key_field_id"), absl::StrCat("required for ", why));
    }
    const bool any_to_field = std::any_of(profile.fields().begin(), profile.fields().end(),
                                          [](const auto& f) { return f.second.to_field() != 0; });
    if (!any_to_field) {
      ctx.Add(Child(path, "fields"), absl::StrCat(why, " needs at least one field with to_field"));
    }
  }
  // List value ids come from the target app's field metadata.
  if (profile.target().app_id() == 0) {
    for (const auto& [name, field] :
         std::map<std::string, v1::OutputField>(profile.fields().begin(), profile.fields().end())) {
      if (field.kind_case() == v1::OutputField::kList &&
          (field.list().output() == v1::ListKind::OUTPUT_ID || field.list().create_missing())) {
        ctx.Add(Child(Child(path, "target"), "app_id"),
                absl::StrCat("required by fields.", name,
                             " (list ids come from the target app's fields)"));
      }
    }
  }
  // Two output fields writing one Onspring field would fight; report in name order.
  const std::map<std::string, v1::OutputField> sorted(profile.fields().begin(),
                                                      profile.fields().end());
  std::map<int32_t, std::string> writers;
  for (const auto& [name, field] : sorted) {
    const std::string field_path = Child(Child(path, "fields"), name);
    if (name.empty()) ctx.Add(field_path, "field names must not be empty");
    if (field.to_field() == 0) continue;
    if (auto [other, inserted] = writers.emplace(field.to_field(), name); !inserted) {
      ctx.Add(Child(field_path, "to_field"),
              absl::StrCat("field ", field.to_field(), " is also written by ", other->second));
    }
  }
}

void CheckOutputField(const RuleContext& ctx, const v1::OutputField& field,
                      const std::string& path) {
  if (!field.join().empty() && field.split().empty()) {
    ctx.Add(Child(path, "join"), "needs split (join applies to multi-value sources)");
  }
  if (!field.split().empty() && (field.kind_case() == v1::OutputField::kNumber ||
                                 field.kind_case() == v1::OutputField::kDate)) {
    ctx.Add(Child(path, "split"), "only applies to text, list and reference fields");
  }
  // List value ids come from the metadata of the Onspring field the value is written to.
  if (field.kind_case() == v1::OutputField::kList && field.to_field() == 0 &&
      (field.list().output() == v1::ListKind::OUTPUT_ID || field.list().create_missing())) {
    ctx.Add(Child(path, "to_field"),
            "required for a list with output: id or create_missing (the list is the field's)");
  }
}

void CheckReference(const RuleContext& ctx, const v1::ReferenceKind& ref, const std::string& path) {
  const std::string create = Child(path, "create");
  if (ref.on_missing() == v1::ON_MISSING_CREATE && ref.create().empty()) {
    ctx.Add(create, "required with on_missing: create (field id -> template)");
  }
  const std::map<int32_t, std::string> sorted(ref.create().begin(), ref.create().end());
  for (const auto& [field_id, tmpl] : sorted) {
    const std::string entry = Child(create, absl::StrCat(field_id));
    if (field_id <= 0) ctx.Add(entry, "field ids must be > 0");
    if (const auto parsed = engine::Template::Parse(tmpl); !parsed.ok()) {
      ctx.Add(entry, std::string(parsed.status().message()));
    }
  }
}

void CheckSchedule(const RuleContext& ctx, const v1::Schedule& schedule, const std::string& path) {
  if (schedule.has_every() && TotalNanos(schedule.every()) < 60'000'000'000) {
    ctx.Add(Child(path, "every"), "must be at least 60s");
  }
}

void CheckServiceNow(const RuleContext& ctx, const v1::ServiceNowConnection& sn,
                     const std::string& path) {
  if (sn.instance_url().empty()) return;  // Reported as required.
  if (std::string problem = CheckHttpUrl(sn.instance_url(), /*origin_only=*/true);
      !problem.empty()) {
    ctx.Add(Child(path, "instance_url"), std::move(problem));
  }
}

void CheckOnspring(const RuleContext& ctx, const v1::OnspringConnection& os,
                   const std::string& path) {
  if (os.base_url().empty()) return;  // Reported as required.
  if (std::string problem = CheckHttpUrl(os.base_url(), /*origin_only=*/false); !problem.empty()) {
    ctx.Add(Child(path, "base_url"), std::move(problem));
  }
}

void CheckListen(const RuleContext& ctx, const std::string& value, const std::string& path) {
  if (!value.empty() && !IsHostPort(value)) {
    ctx.Add(path, "expected host:port, e.g. 127.0.0.1:8080 or [::]:8080");
  }
}

// `is_server`: serving TLS needs a certificate; dialing needs none (cert+key mean mTLS).
void CheckTls(const RuleContext& ctx, const v1::TlsConfig& tls, const std::string& path,
              bool is_server) {
  if (is_server && tls.cert_file().empty())
    ctx.Add(Child(path, "cert_file"), "required to serve TLS");
  if (is_server && tls.key_file().empty())
    ctx.Add(Child(path, "key_file"), "required to serve TLS");
  if (!is_server && tls.cert_file().empty() != tls.key_file().empty()) {
    ctx.Add(Child(path, tls.cert_file().empty() ? "cert_file" : "key_file"),
            "cert_file and key_file go together (client certificate for mTLS)");
  }
  if (is_server && tls.require_client_cert() && tls.ca_file().empty()) {
    ctx.Add(Child(path, "ca_file"), "required with require_client_cert");
  }
  if (!is_server && tls.require_client_cert()) {
    ctx.Add(Child(path, "require_client_cert"), "only applies to a server's tls");
  }
  if (is_server && !tls.server_name_override().empty()) {
    ctx.Add(Child(path, "server_name_override"), "only applies when dialing (server_tls)");
  }
}

void CheckBackoff(const RuleContext& ctx, const google::protobuf::Duration* initial,
                  const google::protobuf::Duration* max, const std::string& path) {
  if (initial != nullptr && max != nullptr && TotalNanos(*max) < TotalNanos(*initial)) {
    ctx.Add(Child(path, "max_backoff"), "must not be less than initial_backoff");
  }
}

void CheckServer(const RuleContext& ctx, const v1::ServerConfig& server, const std::string& path) {
  CheckListen(ctx, server.listen(), Child(path, "listen"));
  CheckListen(ctx, server.admin_listen(), Child(path, "admin_listen"));
  if (server.has_tls()) CheckTls(ctx, server.tls(), Child(path, "tls"), /*is_server=*/true);
}

void CheckGateway(const RuleContext& ctx, const v1::GatewayConfig& gw, const std::string& path) {
  CheckListen(ctx, gw.listen(), Child(path, "listen"));
  if (!gw.server().empty() && !IsHostPort(gw.server())) {
    // Also accept gRPC target URIs (dns:///host:port, unix:/path, ...).
    constexpr absl::string_view kSchemes[] = {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:"};
    if (std::none_of(std::begin(kSchemes), std::end(kSchemes),
                     [&](absl::string_view s) { return absl::StartsWith(gw.server(), s); })) {
      ctx.Add(Child(path, "server"),
              "expected host:port or a gRPC target such as dns:///host:port");
    }
  }
  if (gw.has_tls()) CheckTls(ctx, gw.tls(), Child(path, "tls"), /*is_server=*/true);
  if (gw.has_server_tls()) {
    CheckTls(ctx, gw.server_tls(), Child(path, "server_tls"), /*is_server=*/false);
  }
  if (gw.has_default_deadline() && gw.has_max_deadline() &&
      TotalNanos(gw.max_deadline()) < TotalNanos(gw.default_deadline())) {
    ctx.Add(Child(path, "max_deadline"), "must not be less than default_deadline");
  }
}

void CheckApiKey(const RuleContext& ctx, const v1::ApiKeyAuth& auth, const std::string& path) {
  // RFC 9110 token characters: anything else can never match a received header.
  const std::string& header = auth.header();
  if (!std::all_of(header.begin(), header.end(), [](char c) {
        return absl::ascii_isalnum(c) || absl::StrContains("!#$%&'*+-.^_`|~", c);
      })) {
    ctx.Add(Child(path, "header"), "must be an HTTP header name");
  }
}

void CheckInlineSync(const RuleContext& ctx, const v1::InlineSyncConfig& route,
                     const std::string& path) {
  for (int i = 0; i < route.allowed_servicenow_hosts_size(); ++i) {
    const std::string& host = route.allowed_servicenow_hosts(i);
    if (host.empty() || !std::all_of(host.begin(), host.end(), IsHostChar)) {
      ctx.Add(Index(Child(path, "allowed_servicenow_hosts"), i),
              "expected a host name such as acme.service-now.com (no scheme, port or path)");
    }
  }
}

void CheckJobs(const RuleContext& ctx, const v1::JobsConfig& jobs, const std::string& path) {
  CheckBackoff(ctx, jobs.has_initial_backoff() ? &jobs.initial_backoff() : nullptr,
               jobs.has_max_backoff() ? &jobs.max_backoff() : nullptr, path);
}

void CheckUpstream(const RuleContext& ctx, const v1::UpstreamConfig& up, const std::string& path) {
  CheckBackoff(ctx, up.has_initial_backoff() ? &up.initial_backoff() : nullptr,
               up.has_max_backoff() ? &up.max_backoff() : nullptr, path);
  if (up.retry_budget_ratio() > 1) {
    ctx.Add(Child(path, "retry_budget_ratio"), "must be between 0 and 1");
  }
}

// Binds a typed rule function to the generic walk.
template <typename T, void (*F)(const RuleContext&, const T&, const std::string&)>
void Typed(const RuleContext& ctx, const Message& m, const std::string& path) {
  F(ctx, static_cast<const T&>(m), path);
}

struct TypeRule {
  DescriptorFn message;
  void (*check)(const RuleContext&, const Message&, const std::string&);
};
constexpr TypeRule kTypeRules[] = {
    {&v1::Config::descriptor, &Typed<v1::Config, CheckConfig>},
    {&v1::Profile::descriptor, &Typed<v1::Profile, CheckProfile>},
    {&v1::OutputField::descriptor, &Typed<v1::OutputField, CheckOutputField>},
    {&v1::ReferenceKind::descriptor, &Typed<v1::ReferenceKind, CheckReference>},
    {&v1::Schedule::descriptor, &Typed<v1::Schedule, CheckSchedule>},
    {&v1::ServiceNowConnection::descriptor, &Typed<v1::ServiceNowConnection, CheckServiceNow>},
    {&v1::OnspringConnection::descriptor, &Typed<v1::OnspringConnection, CheckOnspring>},
    {&v1::ServerConfig::descriptor, &Typed<v1::ServerConfig, CheckServer>},
    {&v1::GatewayConfig::descriptor, &Typed<v1::GatewayConfig, CheckGateway>},
    {&v1::ApiKeyAuth::descriptor, &Typed<v1::ApiKeyAuth, CheckApiKey>},
    {&v1::InlineSyncConfig::descriptor, &Typed<v1::InlineSyncConfig, CheckInlineSync>},
    {&v1::JobsConfig::descriptor, &Typed<v1::JobsConfig, CheckJobs>},
    {&v1::UpstreamConfig::descriptor, &Typed<v1::UpstreamConfig, CheckUpstream>},
};

// --- The walk --------------------------------------------------------------------------------

// Visits every message of the tree once, applying the tables above to each and the generic
// rules (numbers and durations not negative) to every field.
class Validator {
 public:
  explicit Validator(const RuleContext& ctx) : ctx_(ctx) {}

  void Walk(const Message& message, const std::string& path) {
    const Descriptor& type = *message.GetDescriptor();
    const Reflection& reflection = *message.GetReflection();
    for (const RequiredRule& rule : kRequired) {
      if (rule.message() == &type) CheckRequired(message, rule.field, path);
    }
    for (const SecretRule& rule : kSecrets) {
      if (rule.message() == &type) CheckSecret(message, rule, path);
    }
    for (const ConditionalRule& rule : kConditional) {
      if (rule.message() != &type || !rule.required_if(message)) continue;
      const FieldDescriptor* field = Field(type, rule.field);
      if (field != nullptr && !reflection.HasField(message, field)) {
        ctx_.Add(Child(path, rule.field), std::string(rule.reason));
      }
    }
    for (const TypeRule& rule : kTypeRules) {
      if (rule.message() == &type) rule.check(ctx_, message, path);
    }

    std::vector<const FieldDescriptor*> fields;
    reflection.ListFields(message, &fields);
    for (const FieldDescriptor* field : fields) {
      const std::string child = Child(path, field->name());
      if (field->is_map()) {
        WalkMap(message, *field, child);
      } else if (field->is_repeated()) {
        for (int i = 0; i < reflection.FieldSize(message, field); ++i) {
          if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            WalkValue(reflection.GetRepeatedMessage(message, field, i), Index(child, i));
          } else {
            CheckNumber(message, *field, i, Index(child, i));
          }
        }
      } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        WalkValue(reflection.GetMessage(message, field), child);
      } else {
        CheckNumber(message, *field, -1, child);
      }
    }
  }

 private:
  // A field named by a rule table; a name that does not exist is a bug in the table.
  const FieldDescriptor* Field(const Descriptor& type, absl::string_view name) {
    const FieldDescriptor* field = type.FindFieldByName(std::string(name));
    if (field == nullptr) {
      ctx_.Add("", absl::StrCat("internal error: validation rule names unknown field ",
                                type.full_name(), ".", name));
    }
    return field;
  }

  void WalkValue(const Message& message, const std::string& path) {
    if (IsDuration(*message.GetDescriptor())) {
      const auto& d = static_cast<const google::protobuf::Duration&>(message);
      if (d.seconds() < 0 || d.nanos() < 0) {
        ctx_.Add(path, "must not be negative");
      } else if (d.nanos() > 999'999'999 || d.seconds() > kMaxDurationSeconds) {
        ctx_.Add(path, "is not a valid duration");
      }
      return;
    }
    Walk(message, path);
  }

  // Map entries in key order, so that messages are deterministic.
  void WalkMap(const Message& message, const FieldDescriptor& field, const std::string& path) {
    const Reflection& reflection = *message.GetReflection();
    const FieldDescriptor& key_field = *field.message_type()->map_key();
    const FieldDescriptor& value_field = *field.message_type()->map_value();
    std::vector<std::pair<std::string, const Message*>> entries;
    for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
      const Message& entry = reflection.GetRepeatedMessage(message, &field, i);
      const Reflection& entry_reflection = *entry.GetReflection();
      std::string key;
      switch (key_field.cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING:
          key = entry_reflection.GetString(entry, &key_field);
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          key = absl::StrCat(entry_reflection.GetInt32(entry, &key_field));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          key = absl::StrCat(entry_reflection.GetInt64(entry, &key_field));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          key = absl::StrCat(entry_reflection.GetUInt32(entry, &key_field));
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          key = absl::StrCat(entry_reflection.GetUInt64(entry, &key_field));
          break;
        default:
          key = entry_reflection.GetBool(entry, &key_field) ? "true" : "false";
      }
      entries.emplace_back(std::move(key), &entry);
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [key, entry] : entries) {
      const std::string child = Child(path, key);
      if (value_field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        WalkValue(entry->GetReflection()->GetMessage(*entry, &value_field), child);
      } else {
        CheckNumber(*entry, value_field, -1, child);
      }
    }
  }

  // Numbers are counts, sizes, ids and ratios: none may be negative.
  void CheckNumber(const Message& message, const FieldDescriptor& field, int index,
                   const std::string& path) {
    const Reflection& r = *message.GetReflection();
    const bool repeated = index >= 0;
    bool negative = false;
    switch (field.cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32:
        negative = (repeated ? r.GetRepeatedInt32(message, &field, index)
                             : r.GetInt32(message, &field)) < 0;
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        negative = (repeated ? r.GetRepeatedInt64(message, &field, index)
                             : r.GetInt64(message, &field)) < 0;
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE: {
        const double v =
            repeated ? r.GetRepeatedDouble(message, &field, index) : r.GetDouble(message, &field);
        negative = !(v >= 0);  // Also NaN.
        break;
      }
      case FieldDescriptor::CPPTYPE_FLOAT: {
        const float v =
            repeated ? r.GetRepeatedFloat(message, &field, index) : r.GetFloat(message, &field);
        negative = !(v >= 0);
        break;
      }
      default:
        return;
    }
    if (negative) ctx_.Add(path, "must not be negative");
  }

  void CheckRequired(const Message& message, absl::string_view name, const std::string& path) {
    const Descriptor& type = *message.GetDescriptor();
    const Reflection& reflection = *message.GetReflection();
    if (const OneofDescriptor* oneof = type.FindOneofByName(std::string(name)); oneof != nullptr) {
      if (!reflection.HasOneof(message, oneof)) {
        std::vector<std::string> members;
        for (int i = 0; i < oneof->field_count(); ++i) members.push_back(oneof->field(i)->name());
        ctx_.Add(path, absl::StrCat("set exactly one of ", absl::StrJoin(members, ", ")));
      }
      return;
    }
    const FieldDescriptor* field = Field(type, name);
    if (field == nullptr || reflection.HasField(message, field)) return;
    const bool is_number = field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                           field->cpp_type() == FieldDescriptor::CPPTYPE_INT64;
    ctx_.Add(Child(path, name), is_number ? "required (an id > 0)" : "required");
  }

  void CheckSecret(const Message& message, const SecretRule& rule, const std::string& path) {
    const Descriptor& type = *message.GetDescriptor();
    const Reflection& reflection = *message.GetReflection();
    const FieldDescriptor* value_field = Field(type, rule.field);
    const FieldDescriptor* file_field = Field(type, absl::StrCat(rule.field, "_file"));
    if (value_field == nullptr || file_field == nullptr) return;
    const std::string value = reflection.GetString(message, value_field);
    const std::string file = reflection.GetString(message, file_field);
    if (value.empty() && file.empty() && rule.required_if != nullptr &&
        !rule.required_if(message)) {
      return;
    }
    const std::string key_path = Child(path, rule.field);
    const absl::Status status = ctx_.secrets == nullptr
                                    ? CheckSecretReference(key_path, value, file)
                                    : ResolveSecret(key_path, value, file, *ctx_.secrets).status();
    if (status.ok()) return;
    // The message starts with "<key_path>: " or "<key_path>_file: "; keep the path apart so that
    // it can be rewritten to the keys as written.
    absl::string_view message_text = status.message();
    const std::string file_key = absl::StrCat(key_path, "_file");
    if (absl::ConsumePrefix(&message_text, absl::StrCat(file_key, ": "))) {
      ctx_.Add(file_key, std::string(message_text));
    } else if (absl::ConsumePrefix(&message_text, absl::StrCat(key_path, ": "))) {
      ctx_.Add(key_path, std::string(message_text));
    } else {
      ctx_.Add(key_path, std::string(message_text));
    }
  }

  const RuleContext& ctx_;
};

Issues ValidateWith(const Message& message, const std::string& path, const SecretSource* secrets) {
  Issues issues;
  const RuleContext ctx{secrets, &issues};
  Validator(ctx).Walk(message, path);
  return issues;
}

// Rewrites validation paths (proto names) to the keys as written, with the line of the deepest
// key that was written.
void UseWrittenPaths(const WrittenPaths& written, Issues* issues) {
  for (Issue& issue : issues->items()) {
    absl::string_view prefix = issue.path;
    while (!prefix.empty()) {
      if (auto it = written.find(prefix); it != written.end()) {
        issue.path = absl::StrCat(it->second.path, issue.path.substr(prefix.size()));
        issue.line = it->second.line;
        break;
      }
      const size_t cut = prefix.find_last_of(".[");
      prefix = prefix.substr(0, cut == absl::string_view::npos ? 0 : cut);
    }
  }
}

}  // namespace

absl::StatusOr<std::string> YamlToJson(std::string_view yaml,
                                       const google::protobuf::Descriptor& descriptor) {
  return ConvertYaml(AsAbsl(yaml), descriptor, nullptr);
}

absl::StatusOr<v1::Config> ParseConfigYaml(std::string_view yaml, const SecretSource& secrets) {
  WrittenPaths written;
  absl::StatusOr<std::string> json = ConvertYaml(AsAbsl(yaml), *v1::Config::descriptor(), &written);
  if (!json.ok()) return json.status();
  v1::Config config;
  const auto parsed = google::protobuf::util::JsonStringToMessage(*json, &config);
  if (!parsed.ok()) {
    // The converter checks every type, so this is a gap in it rather than a user error.
    return absl::InvalidArgumentError(
        absl::StrCat("(top level): the converted config does not parse: ", parsed.ToString()));
  }
  Issues issues = ValidateWith(config, "", &secrets);
  UseWrittenPaths(written, &issues);
  // Report in the order of the file; problems without a line (none today) go last.
  std::stable_sort(issues.items().begin(), issues.items().end(),
                   [](const Issue& a, const Issue& b) {
                     const auto key = [](const Issue& i) {
                       return i.line > 0 ? i.line : std::numeric_limits<int>::max();
                     };
                     return key(a) < key(b);
                   });
  if (absl::Status status = issues.ToStatus(); !status.ok()) return status;
  return config;
}

absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path, const SecretSource& secrets) {
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  // Parse errors are not prefixed with `path`: they start with the key path, and the caller
  // knows which file it asked for.
  return ParseConfigYaml(*text, secrets);
}

absl::Status ValidateConfig(const v1::Config& config, const SecretSource& secrets) {
  return ValidateWith(config, "", &secrets).ToStatus();
}

absl::Status ValidateProfile(std::string_view path_prefix, const v1::Profile& profile) {
  return ValidateWith(profile, std::string(path_prefix), nullptr).ToStatus();
}

logging::Level LogLevelFrom(const v1::LoggingConfig& logging) {
  switch (logging.level()) {
    case v1::LoggingConfig::LEVEL_DEBUG:
      return logging::Level::kDebug;
    case v1::LoggingConfig::LEVEL_WARN:
      return logging::Level::kWarn;
    case v1::LoggingConfig::LEVEL_ERROR:
      return logging::Level::kError;
    default:
      return logging::Level::kInfo;
  }
}

}  // namespace onsync::config
