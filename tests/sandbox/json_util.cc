#include "tests/sandbox/json_util.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"
#include "rapidjson/error/en.h"

namespace onsync::sandbox {

absl::StatusOr<rapidjson::Document> ParseJson(std::string_view text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at offset ", document.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(document.GetParseError())));
  }
  return document;
}

const rapidjson::Value* FindMember(const rapidjson::Value& object, std::string_view name,
                                   bool ignore_case) {
  if (!object.IsObject()) return nullptr;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    const std::string_view key = View(it->name);
    if (ignore_case ? absl::EqualsIgnoreCase(ToAbsl(key), ToAbsl(name)) : key == name) {
      return &it->value;
    }
  }
  return nullptr;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<std::string> GetString(const rapidjson::Value& object, std::string_view name,
                                     bool ignore_case) {
  const rapidjson::Value* value = FindMember(object, name, ignore_case);
  if (value == nullptr || !value->IsString()) return std::nullopt;
  return std::string(View(*value));
}

std::optional<int64_t> GetInt(const rapidjson::Value& object, std::string_view name,
                              bool ignore_case) {
  const rapidjson::Value* value = FindMember(object, name, ignore_case);
  if (value == nullptr || !value->IsInt64()) return std::nullopt;
  return value->GetInt64();
}

std::optional<bool> GetBool(const rapidjson::Value& object, std::string_view name,
                            bool ignore_case) {
  const rapidjson::Value* value = FindMember(object, name, ignore_case);
  if (value == nullptr || !value->IsBool()) return std::nullopt;
  return value->GetBool();
}

}  // namespace onsync::sandbox
