// RapidJSON helpers for the sandbox: parsing into a Document with a Status on error,
// case-insensitive member lookup (Onspring accepts PascalCase and camelCase request properties),
// and a thin writer over std::string_view.
//
// Thread safety: pure functions; a JsonWriter is used by one thread.
#ifndef ONSYNC_TESTS_SANDBOX_JSON_UTIL_H_
#define ONSYNC_TESTS_SANDBOX_JSON_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace onsync::sandbox {

// Parses `text` (the whole of it). Errors: INVALID_ARGUMENT with RapidJSON's message and offset.
absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text);

// The member `name` of `object` (nullptr when `object` is not an object or has no such member).
// With `ignore_case`, ASCII case is ignored; the first match wins.
const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name,
                                   bool ignore_case = false);

// `value` serialised compactly.
std::string ToJson(const rapidjson::Value& value);

// Typed getters for seed and admin-route bodies: the member as that type, or nullopt when it is
// missing or of another type.
std::optional<std::string> GetString(const rapidjson::Value& object, std::string_view name,
                                     bool ignore_case = false);
std::optional<int64_t> GetInt(const rapidjson::Value& object, std::string_view name,
                              bool ignore_case = false);
std::optional<bool> GetBool(const rapidjson::Value& object, std::string_view name,
                            bool ignore_case = false);

inline std::string_view View(const rapidjson::Value& string_value) {
  return {string_value.GetString(), string_value.GetStringLength()};
}

// Builds compact JSON text. Methods return *this so calls chain.
class JsonWriter {
 public:
  JsonWriter() : writer_(buffer_) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  JsonWriter& StartObject() { return Check(writer_.StartObject()); }
  JsonWriter& EndObject() { return Check(writer_.EndObject()); }
  JsonWriter& StartArray() { return Check(writer_.StartArray()); }
  JsonWriter& EndArray() { return Check(writer_.EndArray()); }
  JsonWriter& Key(std::string_view key) {
    return Check(writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())));
  }
  JsonWriter& String(std::string_view text) {
    return Check(writer_.String(text.data(), static_cast<rapidjson::SizeType>(text.size())));
  }
  JsonWriter& Int(int64_t value) { return Check(writer_.Int64(value)); }
  JsonWriter& Double(double value) { return Check(writer_.Double(value)); }
  JsonWriter& Bool(bool value) { return Check(writer_.Bool(value)); }
  JsonWriter& Null() { return Check(writer_.Null()); }
  // Writes already-serialised JSON as one value.
  JsonWriter& Raw(std::string_view json) {
    return Check(writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType));
  }
  JsonWriter& Value(const rapidjson::Value& value) {
    value.Accept(writer_);
    return *this;
  }
  // Key(key).String(text), and friends.
  JsonWriter& Member(std::string_view key, std::string_view text) { return Key(key).String(text); }
  JsonWriter& Member(std::string_view key, const char* text) { return Key(key).String(text); }
  JsonWriter& Member(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, bool value) { return Key(key).Bool(value); }

  std::string str() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  JsonWriter& Check(bool) { return *this; }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_JSON_UTIL_H_
