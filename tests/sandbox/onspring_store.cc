#include "tests/sandbox/onspring_store.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/string_view.h"

namespace onsync::sandbox {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

absl::StatusOr<OsFieldType> ParseType(std::string_view text) {
  static constexpr std::pair<std::string_view, OsFieldType> kTypes[] = {
      {"Text", OsFieldType::kText},       {"Number", OsFieldType::kNumber},
      {"Date", OsFieldType::kDate},       {"AutoNumber", OsFieldType::kAutoNumber},
      {"List", OsFieldType::kList},       {"Reference", OsFieldType::kReference},
      {"Formula", OsFieldType::kFormula},
  };
  for (const auto& [name, type] : kTypes) {
    if (absl::EqualsIgnoreCase(ToAbsl(name), ToAbsl(text))) return type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown field type \"", ToAbsl(text), "\""));
}

std::string FormatNumber(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  return absl::StrCat(value);
}

// Strips HTML tags (multi-line text keeps markup in Raw; Formatted is plain text).
std::string StripTags(std::string_view text) {
  std::string out;
  bool in_tag = false;
  for (const char c : text) {
    if (c == '<') {
      in_tag = true;
    } else if (c == '>' && in_tag) {
      in_tag = false;
    } else if (!in_tag) {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormattedDate(std::string_view iso) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%SZ", ToAbsl(iso), absl::UTCTimeZone(), &time, &error)) {
    return std::string(iso);
  }
  // "Wednesday, February 15, 2023 6:00 AM" (the instance display format, UTC here).
  std::string text = absl::FormatTime("%A, %B %d, %Y %I:%M %p", time, absl::UTCTimeZone());
  // Drop leading zeros of the day and hour.
  const size_t comma = text.find(", ");
  if (comma != std::string::npos) {
    const size_t day = text.find(' ', comma + 2);
    if (day != std::string::npos && text[day + 1] == '0') text.erase(day + 1, 1);
  }
  const size_t year_end = text.rfind(' ', text.rfind(':'));
  if (year_end != std::string::npos && text[year_end + 1] == '0') text.erase(year_end + 1, 1);
  return text;
}

bool GuidEquals(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(a), ToAbsl(b));
}

}  // namespace

std::string_view OsFieldTypeName(OsFieldType type) {
  switch (type) {
    case OsFieldType::kText:
      return "Text";
    case OsFieldType::kNumber:
      return "Number";
    case OsFieldType::kDate:
      return "Date";
    case OsFieldType::kAutoNumber:
      return "AutoNumber";
    case OsFieldType::kList:
      return "List";
    case OsFieldType::kReference:
      return "Reference";
    case OsFieldType::kFormula:
      return "Formula";
  }
  return "Text";
}

bool IsEmptyValue(const OsValue& value) {
  if (std::holds_alternative<std::monostate>(value)) return true;
  if (const auto* text = std::get_if<std::string>(&value)) return text->empty();
  if (const auto* guids = std::get_if<std::vector<std::string>>(&value)) return guids->empty();
  if (const auto* ids = std::get_if<std::vector<int64_t>>(&value)) return ids->empty();
  return false;
}

std::optional<std::string> NormalizeDate(std::string_view text) {
  const absl::string_view input = absl::StripAsciiWhitespace(ToAbsl(text));
  absl::Time time;
  std::string error;
  static constexpr const char* kFormats[] = {
      "%Y-%m-%dT%H:%M:%E*S%Ez",
      "%Y-%m-%dT%H:%M:%E*SZ",
      "%Y-%m-%dT%H:%M:%E*S",
      "%Y-%m-%dT%H:%MZ",
      "%Y-%m-%d",
      "%m/%d/%Y",
      "%m/%d/%Y %H:%M:%S",
  };
  for (const char* format : kFormats) {
    if (absl::ParseTime(format, input, absl::UTCTimeZone(), &time, &error)) {
      return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
    }
  }
  return std::nullopt;
}

absl::StatusOr<OsStore> OsStore::FromSeed(const rapidjson::Value& seed) {
  OsStore store;
  if (!seed.IsObject()) return absl::InvalidArgumentError("onspring: expected an object");
  if (const rapidjson::Value* lists = FindMember(seed, "lists"); lists != nullptr) {
    if (!lists->IsArray()) return absl::InvalidArgumentError("onspring.lists: expected an array");
    for (const rapidjson::Value& list_json : lists->GetArray()) {
      OsList list;
      list.id = GetInt(list_json, "id").value_or(0);
      if (list.id <= 0 || store.lists_.count(list.id) > 0) {
        return absl::InvalidArgumentError("onspring.lists[]: missing, invalid or duplicate id");
      }
      if (const rapidjson::Value* values = FindMember(list_json, "values");
          values != nullptr && values->IsArray()) {
        int64_t order = 0;
        for (const rapidjson::Value& value_json : values->GetArray()) {
          OsListValue value;
          value.id = absl::AsciiStrToLower(GetString(value_json, "id").value_or(""));
          if (value.id.empty()) value.id = store.NewGuid();
          value.name = GetString(value_json, "name").value_or("");
          value.sort_order = GetInt(value_json, "sortOrder").value_or(++order);
          if (const rapidjson::Value* numeric = FindMember(value_json, "numericValue");
              numeric != nullptr && numeric->IsNumber()) {
            value.numeric_value = numeric->GetDouble();
          }
          value.color = GetString(value_json, "color").value_or("#ffffff");
          if (value.name.empty()) {
            return absl::InvalidArgumentError(
                absl::StrCat("onspring.lists.", list.id, ".values[]: missing name"));
          }
          list.values.push_back(std::move(value));
        }
      }
      store.lists_[list.id] = std::move(list);
    }
  }
  const rapidjson::Value* apps = FindMember(seed, "apps");
  if (apps == nullptr || !apps->IsArray()) {
    return absl::InvalidArgumentError("onspring.apps: expected an array");
  }
  for (const rapidjson::Value& app_json : apps->GetArray()) {
    OsApp app;
    app.id = GetInt(app_json, "id").value_or(0);
    app.name = GetString(app_json, "name").value_or("");
    if (app.id <= 0 || app.name.empty() || store.apps_.count(app.id) > 0) {
      return absl::InvalidArgumentError("onspring.apps[]: missing, invalid or duplicate id/name");
    }
    app.next_auto_number = GetInt(app_json, "auto_number_start").value_or(1001);
    const rapidjson::Value* fields = FindMember(app_json, "fields");
    if (fields == nullptr || !fields->IsArray()) {
      return absl::InvalidArgumentError(
          absl::StrCat("onspring.apps.", app.id, ".fields: expected an array"));
    }
    for (const rapidjson::Value& field_json : fields->GetArray()) {
      OsField field;
      field.app_id = app.id;
      field.id = GetInt(field_json, "id").value_or(0);
      field.name = GetString(field_json, "name").value_or("");
      const std::string where = absl::StrCat("onspring.apps.", app.id, ".fields.", field.id);
      if (field.id <= 0 || field.name.empty() || store.fields_.count(field.id) > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": missing, invalid or duplicate id/name"));
      }
      absl::StatusOr<OsFieldType> type = ParseType(GetString(field_json, "type").value_or("Text"));
      if (!type.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", type.status().message()));
      field.type = *type;
      field.multi = GetString(field_json, "multiplicity").value_or("SingleSelect") == "MultiSelect";
      field.list_id = GetInt(field_json, "listId").value_or(0);
      field.referenced_app_id = GetInt(field_json, "referencedAppId").value_or(0);
      field.formula = GetString(field_json, "formula").value_or("");
      field.output_type = GetString(field_json, "outputType").value_or("Text");
      field.is_required = GetBool(field_json, "isRequired").value_or(false);
      field.is_unique = GetBool(field_json, "isUnique").value_or(false);
      field.prefix = GetString(field_json, "prefix").value_or("");
      if (field.type == OsFieldType::kList && store.lists_.count(field.list_id) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": unknown listId ", field.list_id));
      }
      if (field.type == OsFieldType::kReference && field.referenced_app_id <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": missing referencedAppId"));
      }
      if (GetBool(field_json, "primary").value_or(false)) app.primary_field_id = field.id;
      app.field_ids.push_back(field.id);
      store.fields_[field.id] = std::move(field);
    }
    if (app.primary_field_id == 0) {
      for (int64_t id : app.field_ids) {
        if (store.fields_[id].type == OsFieldType::kText) {
          app.primary_field_id = id;
          break;
        }
      }
    }
    store.apps_[app.id] = std::move(app);
  }
  for (const auto& [id, field] : store.fields_) {
    if (field.type == OsFieldType::kReference && store.apps_.count(field.referenced_app_id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "onspring field ", id, ": unknown referencedAppId ", field.referenced_app_id));
    }
  }
  // Records: ids first (references may point forward), then values.
  for (const rapidjson::Value& app_json : apps->GetArray()) {
    OsApp& app = store.apps_[*GetInt(app_json, "id")];
    const rapidjson::Value* records = FindMember(app_json, "records");
    if (records == nullptr || !records->IsArray()) continue;
    for (const rapidjson::Value& record_json : records->GetArray()) {
      OsRecord record;
      record.id = GetInt(record_json, "recordId").value_or(app.next_record_id);
      if (record.id <= 0 || app.records.count(record.id) > 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("onspring.apps.", app.id, ".records[]: invalid or duplicate recordId"));
      }
      app.next_record_id = std::max(app.next_record_id, record.id + 1);
      app.records[record.id] = std::move(record);
    }
  }
  for (const rapidjson::Value& app_json : apps->GetArray()) {
    OsApp& app = store.apps_[*GetInt(app_json, "id")];
    const rapidjson::Value* records = FindMember(app_json, "records");
    if (records == nullptr || !records->IsArray()) continue;
    int64_t next_id = 1;
    for (const rapidjson::Value& record_json : records->GetArray()) {
      const int64_t record_id = GetInt(record_json, "recordId").value_or(next_id);
      next_id = record_id + 1;
      std::map<int64_t, OsValue> values;
      if (const rapidjson::Value* fields = FindMember(record_json, "fields");
          fields != nullptr && fields->IsObject()) {
        for (auto it = fields->MemberBegin(); it != fields->MemberEnd(); ++it) {
          int64_t field_id = 0;
          const OsField* field = absl::SimpleAtoi(ToAbsl(View(it->name)), &field_id)
                                     ? store.FindField(field_id)
                                     : nullptr;
          const std::string where = absl::StrCat("onspring.apps.", app.id, ".records.", record_id,
                                                 ".", ToAbsl(View(it->name)));
          if (field == nullptr || field->app_id != app.id) {
            return absl::InvalidArgumentError(absl::StrCat(where, ": unknown field"));
          }
          auto converted = store.ConvertInput(*field, it->value);
          if (auto* error = std::get_if<OsError>(&converted)) {
            return absl::InvalidArgumentError(absl::StrCat(where, ": ", error->message));
          }
          values[field_id] = std::get<OsValue>(std::move(converted));
        }
      }
      // Seed records take the next auto-number in seed order.
      OsRecord& record = app.records[record_id];
      for (auto& [field_id, value] : values) {
        if (!IsEmptyValue(value)) record.values[field_id] = std::move(value);
      }
      for (int64_t id : app.field_ids) {
        if (store.fields_[id].type == OsFieldType::kAutoNumber) {
          record.values[id] = app.next_auto_number;
        }
      }
      ++app.next_auto_number;
      store.RecomputeFormulas(app, record);
    }
  }
  return store;
}

const OsApp* OsStore::FindApp(int64_t id) const {
  const auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

OsApp* OsStore::FindApp(int64_t id) {
  const auto it = apps_.find(id);
  return it == apps_.end() ? nullptr : &it->second;
}

const OsField* OsStore::FindField(int64_t id) const {
  const auto it = fields_.find(id);
  return it == fields_.end() ? nullptr : &it->second;
}

const OsList* OsStore::FindList(int64_t id) const {
  const auto it = lists_.find(id);
  return it == lists_.end() ? nullptr : &it->second;
}

OsList* OsStore::FindList(int64_t id) {
  const auto it = lists_.find(id);
  return it == lists_.end() ? nullptr : &it->second;
}

const OsListValue* OsStore::FindListValue(const OsField& field, std::string_view key,
                                          bool by_name) const {
  const OsList* list = FindList(field.list_id);
  if (list == nullptr) return nullptr;
  for (const OsListValue& value : list->values) {
    if (GuidEquals(value.id, key)) return &value;
  }
  if (by_name) {
    for (const OsListValue& value : list->values) {
      if (absl::EqualsIgnoreCase(value.name, ToAbsl(key))) return &value;
    }
  }
  return nullptr;
}

const OsField* OsStore::FindFieldByName(const OsApp& app, std::string_view name) const {
  for (int64_t id : app.field_ids) {
    const OsField* field = FindField(id);
    if (field != nullptr && field->name == name) return field;
  }
  return nullptr;
}

std::variant<OsValue, OsError> OsStore::ConvertInput(const OsField& field,
                                                     const rapidjson::Value& value) const {
  auto bad = [&](std::string_view what) -> std::variant<OsValue, OsError> {
    return OsError{400, absl::StrCat("Field ", field.id, " (", field.name, "): ", ToAbsl(what))};
  };
  if (field.type == OsFieldType::kAutoNumber || field.type == OsFieldType::kFormula) {
    return bad(absl::StrCat(ToAbsl(OsFieldTypeName(field.type)), " fields are read-only"));
  }
  if (value.IsNull()) return OsValue();
  switch (field.type) {
    case OsFieldType::kText:
      if (!value.IsString()) return bad("a Text field takes a string");
      return OsValue(std::string(View(value)));
    case OsFieldType::kNumber:
      if (!value.IsNumber()) return bad("a Number field takes a number");
      return OsValue(value.GetDouble());
    case OsFieldType::kDate: {
      if (!value.IsString()) return bad("a Date field takes an ISO 8601 date string");
      std::optional<std::string> date = NormalizeDate(View(value));
      if (!date.has_value()) return bad(absl::StrCat("invalid date \"", ToAbsl(View(value)), "\""));
      return OsValue(*date);
    }
    case OsFieldType::kList: {
      std::vector<std::string> guids;
      auto add = [&](const rapidjson::Value& item) -> std::optional<OsError> {
        if (!item.IsString())
          return std::get<OsError>(bad("list values are given by GUID strings"));
        const OsListValue* list_value = FindListValue(field, View(item), /*by_name=*/false);
        if (list_value == nullptr) {
          return std::get<OsError>(bad(absl::StrCat(
              "\"", ToAbsl(View(item)), "\" is not a value id of list ", field.list_id)));
        }
        guids.push_back(list_value->id);
        return std::nullopt;
      };
      if (value.IsArray()) {
        for (const rapidjson::Value& item : value.GetArray()) {
          if (auto error = add(item)) return *error;
        }
      } else if (auto error = add(value)) {
        return *error;
      }
      if (!field.multi && guids.size() > 1) return bad("a SingleSelect list takes one value");
      return OsValue(std::move(guids));
    }
    case OsFieldType::kReference: {
      std::vector<int64_t> ids;
      const OsApp* target = FindApp(field.referenced_app_id);
      auto add = [&](const rapidjson::Value& item) -> std::optional<OsError> {
        if (!item.IsInt64())
          return std::get<OsError>(bad("references are given by integer record ids"));
        if (target == nullptr || target->records.count(item.GetInt64()) == 0) {
          return std::get<OsError>(bad(absl::StrCat(
              "record ", item.GetInt64(), " does not exist in app ", field.referenced_app_id)));
        }
        ids.push_back(item.GetInt64());
        return std::nullopt;
      };
      if (value.IsArray()) {
        for (const rapidjson::Value& item : value.GetArray()) {
          if (auto error = add(item)) return *error;
        }
      } else if (auto error = add(value)) {
        return *error;
      }
      if (!field.multi && ids.size() > 1) return bad("a SingleSelect reference takes one record");
      return OsValue(std::move(ids));
    }
    default:
      break;
  }
  return bad("unsupported field type");
}

std::variant<OsValue, OsError> OsStore::ConvertMapped(const OsField& field,
                                                      const rapidjson::Value& value) const {
  auto bad = [&](std::string_view what) -> std::variant<OsValue, OsError> {
    return OsError{400, absl::StrCat("field ", field.id, " (", field.name, "): ", ToAbsl(what))};
  };
  if (field.type == OsFieldType::kAutoNumber || field.type == OsFieldType::kFormula) {
    return bad("read-only field");
  }
  if (value.IsNull()) return OsValue();
  auto as_text = [](const rapidjson::Value& v) -> std::optional<std::string> {
    if (v.IsString()) return std::string(View(v));
    if (v.IsBool()) return std::string(v.GetBool() ? "true" : "false");
    if (v.IsInt64()) return absl::StrCat(v.GetInt64());
    if (v.IsNumber()) return FormatNumber(v.GetDouble());
    return std::nullopt;
  };
  // Items of a multi value: an array, or text split on '|'.
  auto items = [&](const rapidjson::Value& v) {
    std::vector<std::string> out;
    if (v.IsArray()) {
      for (const rapidjson::Value& item : v.GetArray()) {
        if (auto text = as_text(item)) out.push_back(*text);
      }
    } else if (auto text = as_text(v)) {
      for (absl::string_view part : absl::StrSplit(*text, '|')) {
        part = absl::StripAsciiWhitespace(part);
        if (!part.empty()) out.emplace_back(part);
      }
    }
    return out;
  };
  switch (field.type) {
    case OsFieldType::kText: {
      std::optional<std::string> text = as_text(value);
      if (!text.has_value()) return bad("expected text");
      return OsValue(*text);
    }
    case OsFieldType::kNumber: {
      double number = 0;
      if (value.IsNumber()) return OsValue(value.GetDouble());
      if (value.IsString() && absl::SimpleAtod(ToAbsl(View(value)), &number))
        return OsValue(number);
      if (value.IsString() && View(value).empty()) return OsValue();
      return bad("expected a number");
    }
    case OsFieldType::kDate: {
      std::optional<std::string> text = as_text(value);
      if (!text.has_value()) return bad("expected a date");
      if (text->empty()) return OsValue();
      std::optional<std::string> date = NormalizeDate(*text);
      if (!date.has_value()) return bad(absl::StrCat("invalid date \"", *text, "\""));
      return OsValue(*date);
    }
    case OsFieldType::kList: {
      std::vector<std::string> guids;
      for (const std::string& item : items(value)) {
        const OsListValue* list_value = FindListValue(field, item, /*by_name=*/true);
        if (list_value == nullptr) {
          return bad(absl::StrCat("\"", item, "\" is not a value of list ", field.list_id));
        }
        guids.push_back(list_value->id);
      }
      if (!field.multi && guids.size() > 1)
        return bad("more than one value for a SingleSelect list");
      return OsValue(std::move(guids));
    }
    case OsFieldType::kReference: {
      std::vector<int64_t> ids;
      const OsApp* target = FindApp(field.referenced_app_id);
      for (const std::string& item : items(value)) {
        int64_t id = 0;
        if (!absl::SimpleAtoi(item, &id))
          return bad(absl::StrCat("\"", item, "\" is not a record id"));
        if (target == nullptr || target->records.count(id) == 0) {
          return bad(
              absl::StrCat("record ", id, " does not exist in app ", field.referenced_app_id));
        }
        ids.push_back(id);
      }
      if (!field.multi && ids.size() > 1)
        return bad("more than one record for a SingleSelect reference");
      return OsValue(std::move(ids));
    }
    default:
      break;
  }
  return bad("unsupported field type");
}

absl::StatusOr<int64_t> OsStore::Apply(OsApp& app, std::optional<int64_t> record_id,
                                       const std::map<int64_t, OsValue>& values) {
  OsRecord* record = nullptr;
  if (record_id.has_value()) {
    const auto it = app.records.find(*record_id);
    if (it == app.records.end()) {
      return absl::NotFoundError(absl::StrCat("Record ", *record_id, " not found in app ", app.id));
    }
    record = &it->second;
  } else {
    const int64_t id = app.next_record_id++;
    record = &app.records[id];
    record->id = id;
    for (int64_t field_id : app.field_ids) {
      if (FindField(field_id)->type == OsFieldType::kAutoNumber) {
        record->values[field_id] = app.next_auto_number;
      }
    }
    ++app.next_auto_number;
  }
  for (const auto& [field_id, value] : values) {
    if (IsEmptyValue(value)) {
      record->values.erase(field_id);
    } else {
      record->values[field_id] = value;
    }
  }
  RecomputeFormulas(app, *record);
  return record->id;
}

void OsStore::RecomputeFormulas(const OsApp& app, OsRecord& record) const {
  for (int64_t id : app.field_ids) {
    const OsField* field = FindField(id);
    if (field->type != OsFieldType::kFormula) continue;
    std::string text = RenderTemplate(app, record, field->formula, /*list_guid=*/false,
                                      [](std::string_view s) { return std::string(s); });
    if (text.empty()) {
      record.values.erase(id);
    } else {
      record.values[id] = std::move(text);
    }
  }
}

void OsStore::WriteListValue(JsonWriter& out, const OsListValue& value) const {
  out.StartObject().Member("id", value.id).Member("name", value.name);
  out.Member("sortOrder", value.sort_order).Key("numericValue");
  if (value.numeric_value.has_value()) {
    out.Double(*value.numeric_value);
  } else {
    out.Null();
  }
  out.Member("color", value.color).EndObject();
}

void OsStore::WriteField(JsonWriter& out, const OsField& field) const {
  out.StartObject()
      .Member("id", field.id)
      .Member("appId", field.app_id)
      .Member("name", field.name)
      .Member("type", OsFieldTypeName(field.type))
      .Member("status", "Enabled")
      .Member("isRequired", field.is_required)
      .Member("isUnique", field.is_unique);
  if (field.type == OsFieldType::kList) {
    out.Member("multiplicity", field.multi ? "MultiSelect" : "SingleSelect");
    out.Member("listId", field.list_id).Key("values").StartArray();
    if (const OsList* list = FindList(field.list_id)) {
      for (const OsListValue& value : list->values) WriteListValue(out, value);
    }
    out.EndArray();
  } else if (field.type == OsFieldType::kReference) {
    out.Member("multiplicity", field.multi ? "MultiSelect" : "SingleSelect");
    out.Member("referencedAppId", field.referenced_app_id);
  } else if (field.type == OsFieldType::kFormula) {
    out.Member("outputType", field.output_type).Key("values").StartArray().EndArray();
  }
  out.EndObject();
}

void OsStore::WriteRecord(JsonWriter& out, const OsApp& app, const OsRecord& record,
                          const std::vector<int64_t>& field_ids, bool formatted) const {
  out.StartObject().Member("appId", app.id).Member("recordId", record.id);
  out.Key("fieldData").StartArray();
  for (int64_t id : app.field_ids) {
    if (!field_ids.empty() &&
        std::find(field_ids.begin(), field_ids.end(), id) == field_ids.end()) {
      continue;
    }
    const auto it = record.values.find(id);
    if (it == record.values.end() || IsEmptyValue(it->second)) continue;  // empty: omitted
    const OsField& field = *FindField(id);
    const OsValue& value = it->second;
    out.StartObject();
    if (formatted) {
      const bool multi = field.multi && (field.type == OsFieldType::kList ||
                                         field.type == OsFieldType::kReference);
      if (multi) {
        out.Member("type", "StringList").Member("fieldId", id).Key("value").StartArray();
        if (const auto* guids = std::get_if<std::vector<std::string>>(&value)) {
          for (const std::string& guid : *guids) {
            const OsListValue* list_value = FindListValue(field, guid, false);
            out.String(list_value != nullptr ? list_value->name : guid);
          }
        } else if (const auto* ids = std::get_if<std::vector<int64_t>>(&value)) {
          const OsApp* target = FindApp(field.referenced_app_id);
          for (int64_t ref : *ids) {
            std::string title = absl::StrCat(ref);
            if (target != nullptr) {
              const auto rec = target->records.find(ref);
              if (rec != target->records.end()) title = Title(*target, rec->second);
            }
            out.String(title);
          }
        }
        out.EndArray();
      } else {
        std::string text;
        switch (field.type) {
          case OsFieldType::kText:
            text = StripTags(std::get<std::string>(value));
            break;
          case OsFieldType::kDate:
            text = FormattedDate(std::get<std::string>(value));
            break;
          case OsFieldType::kAutoNumber:
            text = absl::StrCat(field.prefix, std::get<int64_t>(value));
            break;
          default:
            text = RenderText(field, value, /*list_guid=*/false, /*references_as_title=*/true);
            break;
        }
        out.Member("type", "String").Member("fieldId", id).Member("value", text);
      }
      out.EndObject();
      continue;
    }
    switch (field.type) {
      case OsFieldType::kText:
      case OsFieldType::kFormula:
        out.Member("type", "String")
            .Member("fieldId", id)
            .Member("value", std::get<std::string>(value));
        break;
      case OsFieldType::kNumber:
        out.Member("type", "Decimal")
            .Member("fieldId", id)
            .Key("value")
            .Double(std::get<double>(value));
        break;
      case OsFieldType::kDate:
        out.Member("type", "Date")
            .Member("fieldId", id)
            .Member("value", std::get<std::string>(value));
        break;
      case OsFieldType::kAutoNumber:
        out.Member("type", "Integer")
            .Member("fieldId", id)
            .Member("value", std::get<int64_t>(value));
        break;
      case OsFieldType::kList: {
        const auto& guids = std::get<std::vector<std::string>>(value);
        if (field.multi) {
          out.Member("type", "GuidList").Member("fieldId", id).Key("value").StartArray();
          for (const std::string& guid : guids) out.String(guid);
          out.EndArray();
        } else {
          out.Member("type", "Guid").Member("fieldId", id).Member("value", guids.front());
        }
        break;
      }
      case OsFieldType::kReference: {
        // IntegerList for both multiplicities (onspring-api.md §4.1's advice to fakes).
        out.Member("type", "IntegerList").Member("fieldId", id).Key("value").StartArray();
        for (int64_t ref : std::get<std::vector<int64_t>>(value)) out.Int(ref);
        out.EndArray();
        break;
      }
    }
    out.EndObject();
  }
  out.EndArray().EndObject();
}

std::string OsStore::Title(const OsApp& app, const OsRecord& record) const {
  const OsField* field = FindField(app.primary_field_id);
  if (field == nullptr) return absl::StrCat(record.id);
  const auto it = record.values.find(field->id);
  if (it == record.values.end()) return "";
  return RenderText(*field, it->second, false, false);
}

std::string OsStore::RenderText(const OsField& field, const OsValue& value, bool list_guid,
                                bool references_as_title) const {
  if (IsEmptyValue(value)) return "";
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<double>(&value)) return FormatNumber(*number);
  if (const auto* integer = std::get_if<int64_t>(&value)) return absl::StrCat(*integer);
  if (const auto* guids = std::get_if<std::vector<std::string>>(&value)) {
    std::vector<std::string> parts;
    for (const std::string& guid : *guids) {
      const OsListValue* list_value = FindListValue(field, guid, false);
      parts.push_back(list_guid || list_value == nullptr ? guid : list_value->name);
    }
    return absl::StrJoin(parts, ", ");
  }
  if (const auto* ids = std::get_if<std::vector<int64_t>>(&value)) {
    if (!references_as_title) return absl::StrJoin(*ids, "|");
    std::vector<std::string> parts;
    const OsApp* target = FindApp(field.referenced_app_id);
    for (int64_t id : *ids) {
      if (target == nullptr) continue;
      const auto it = target->records.find(id);
      if (it != target->records.end()) parts.push_back(Title(*target, it->second));
    }
    return absl::StrJoin(parts, ", ");
  }
  return "";
}

std::string OsStore::RenderTemplate(
    const OsApp& app, const OsRecord& record, std::string_view text, bool list_guid,
    const std::function<std::string(std::string_view)>& escape) const {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = text.find("{:", i);
    if (start == std::string_view::npos) break;
    const size_t end = text.find('}', start + 2);
    if (end == std::string_view::npos) break;
    out.append(text.substr(i, start - i));
    const std::string_view name = text.substr(start + 2, end - start - 2);
    if (const OsField* field = FindFieldByName(app, name)) {
      const auto it = record.values.find(field->id);
      if (it != record.values.end()) {
        out.append(escape(RenderText(*field, it->second, list_guid, /*references_as_title=*/true)));
      }
    }
    i = end + 1;
  }
  out.append(text.substr(i));
  return out;
}

std::string OsStore::NewGuid() {
  const uint64_t a = Mix(next_guid_ * 2 + 0x5eed);
  const uint64_t b = Mix(next_guid_ * 2 + 0x5eee);
  ++next_guid_;
  // Version-4 layout: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx.
  return absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", a >> 32, (a >> 16) & 0xffff, a & 0xfff,
                         0x8000 | (b >> 48 & 0x3fff), b & 0xffffffffffffULL);
}

}  // namespace onsync::sandbox
