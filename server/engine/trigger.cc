#include "server/engine/trigger.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace onsync::engine {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr int kMaxRawValues = 32;
// Largest integer a double holds exactly.
constexpr double kMaxExactInteger = 9007199254740992.0;

// The member at a dotted path, or nullptr.
const Value* Find(const Struct& body, const std::string& path) {
  const Struct* object = &body;
  const Value* found = nullptr;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (object == nullptr) return nullptr;
    auto it = object->fields().find(std::string(segment));
    if (it == object->fields().end()) return nullptr;
    found = &it->second;
    object = found->has_struct_value() ? &found->struct_value() : nullptr;
  }
  return found;
}

bool IsWholeNumber(double d) { return std::isfinite(d) && std::trunc(d) == d; }

// Scalars as text: strings as they are, whole numbers as digits; nullopt otherwise.
std::optional<std::string> ScalarText(const Value& value) {
  switch (value.kind_case()) {
    case Value::kStringValue:
      return value.string_value();
    case Value::kNumberValue: {
      const double d = value.number_value();
      if (IsWholeNumber(d) && std::fabs(d) <= kMaxExactInteger) {
        return absl::StrCat(static_cast<int64_t>(d));
      }
      if (!std::isfinite(d)) return std::nullopt;
      return absl::StrCat(d);
    }
    case Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    default:
      return std::nullopt;
  }
}

}  // namespace

absl::StatusOr<v1::Trigger> ExtractTrigger(const v1::TriggerExtraction& paths, const Struct& body) {
  v1::Trigger trigger;
  if (paths.key().empty()) {
    return absl::FailedPreconditionError(
        "the profile has no trigger.key: it cannot be used with event bodies");
  }
  const Value* key = Find(body, paths.key());
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the event body has no \"", paths.key(), "\" (the profile's trigger.key)"));
  }
  std::optional<std::string> key_text;
  if (key->kind_case() != Value::kBoolValue) key_text = ScalarText(*key);
  if (!key_text.has_value() || absl::StripAsciiWhitespace(*key_text).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the event body's \"", paths.key(),
                     "\" (the profile's trigger.key) must be a non-blank string or a number"));
  }
  trigger.set_key(*std::move(key_text));

  if (!paths.record_id().empty()) {
    if (const Value* id = Find(body, paths.record_id()); id != nullptr) {
      int64_t record_id = 0;
      bool valid = false;
      if (id->kind_case() == Value::kNumberValue) {
        const double d = id->number_value();
        valid = IsWholeNumber(d) && d >= 1 && d <= kMaxExactInteger;
        if (valid) record_id = static_cast<int64_t>(d);
      } else if (id->kind_case() == Value::kStringValue) {
        const std::string& text = id->string_value();
        valid = !text.empty() && text.size() <= 18 &&
                text.find_first_not_of("0123456789") == std::string::npos &&
                absl::SimpleAtoi(text, &record_id) && record_id >= 1;
      }
      if (!valid) {
        return absl::InvalidArgumentError(
            absl::StrCat("the event body's \"", paths.record_id(),
                         "\" (the profile's trigger.record_id) must be a whole number >= 1"));
      }
      trigger.set_record_id(record_id);
    }
  }

  for (const auto& [name, value] : body.fields()) {
    if (trigger.raw_values_size() >= kMaxRawValues) break;
    if (std::optional<std::string> text = ScalarText(value)) {
      (*trigger.mutable_raw_values())[name] = *std::move(text);
    }
  }
  return trigger;
}

}  // namespace onsync::engine
