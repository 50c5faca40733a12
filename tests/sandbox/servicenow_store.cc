#include "tests/sandbox/servicenow_store.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/string_view.h"
#include "tests/sandbox/json_util.h"

namespace onsync::sandbox {
namespace {

constexpr std::string_view kSystemFields[] = {"sys_id",         "sys_created_on", "sys_created_by",
                                              "sys_updated_on", "sys_updated_by", "sys_mod_count",
                                              "sys_class_name"};

bool IsSysId(std::string_view text) {
  if (text.size() != 32) return false;
  for (const char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

absl::StatusOr<SnFieldType> ParseFieldType(std::string_view text) {
  if (text.empty() || text == "string") return SnFieldType::kString;
  if (text == "reference") return SnFieldType::kReference;
  if (text == "choice") return SnFieldType::kChoice;
  if (text == "datetime") return SnFieldType::kDateTime;
  if (text == "boolean") return SnFieldType::kBoolean;
  if (text == "integer") return SnFieldType::kInteger;
  return absl::InvalidArgumentError(absl::StrCat("unknown field type \"", ToAbsl(text), "\""));
}

// splitmix64: a deterministic, well-spread sequence for generated sys_ids.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

const SnField* SnTable::FindField(std::string_view name) const {
  for (const SnField& field : fields) {
    if (field.name == name) return &field;
  }
  return nullptr;
}

const SnRow* SnTable::FindRow(std::string_view sys_id) const {
  const auto it = index_.find(sys_id);
  return it == index_.end() ? nullptr : &rows[it->second];
}

SnRow& SnTable::AddRow(SnRow row) {
  index_[row["sys_id"]] = rows.size();
  rows.push_back(std::move(row));
  return rows.back();
}

void SnTable::EraseRow(std::string_view sys_id) {
  const auto it = index_.find(sys_id);
  if (it == index_.end()) return;
  rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(it->second));
  Reindex();
}

void SnTable::Reindex() {
  index_.clear();
  for (size_t i = 0; i < rows.size(); ++i) index_[rows[i]["sys_id"]] = i;
}

SnRow* SnTable::FindRow(std::string_view sys_id) {
  return const_cast<SnRow*>(static_cast<const SnTable*>(this)->FindRow(sys_id));
}

absl::StatusOr<SnStore> SnStore::FromSeed(const rapidjson::Value& seed) {
  SnStore store;
  const rapidjson::Value* tables = FindMember(seed, "tables");
  if (tables == nullptr || !tables->IsArray()) {
    return absl::InvalidArgumentError("servicenow.tables: expected an array");
  }
  // Schemas first (references may point forward), then rows.
  for (const rapidjson::Value& table_json : tables->GetArray()) {
    SnTable table;
    const std::optional<std::string> name = GetString(table_json, "name");
    if (!name.has_value() || name->empty()) {
      return absl::InvalidArgumentError("servicenow.tables[]: missing \"name\"");
    }
    table.name = *name;
    if (auto display = GetString(table_json, "display_field")) table.display_field = *display;
    const rapidjson::Value* fields = FindMember(table_json, "fields");
    if (fields != nullptr && fields->IsArray()) {
      for (const rapidjson::Value& field_json : fields->GetArray()) {
        SnField field;
        field.name = GetString(field_json, "name").value_or("");
        if (field.name.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("servicenow.tables.", table.name, ".fields[]: missing \"name\""));
        }
        absl::StatusOr<SnFieldType> type =
            ParseFieldType(GetString(field_json, "type").value_or(""));
        if (!type.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("servicenow.tables.", table.name,
                                                         ".fields.", field.name, ": ",
                                                         type.status().message()));
        }
        field.type = *type;
        field.reference_table = GetString(field_json, "reference").value_or("");
        if (field.type == SnFieldType::kReference && field.reference_table.empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "servicenow.tables.", table.name, ".fields.", field.name, ": missing \"reference\""));
        }
        if (const rapidjson::Value* choices = FindMember(field_json, "choices");
            choices != nullptr && choices->IsArray()) {
          for (const rapidjson::Value& choice : choices->GetArray()) {
            field.choices.emplace_back(GetString(choice, "value").value_or(""),
                                       GetString(choice, "label").value_or(""));
          }
        }
        if (table.FindField(field.name) != nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("servicenow.tables.", table.name, ": duplicate field ", field.name));
        }
        table.fields.push_back(std::move(field));
      }
    }
    for (std::string_view system_field : kSystemFields) {
      if (table.FindField(system_field) != nullptr) continue;
      SnField field;
      field.name = std::string(system_field);
      if (system_field == "sys_created_on" || system_field == "sys_updated_on") {
        field.type = SnFieldType::kDateTime;
      } else if (system_field == "sys_mod_count") {
        field.type = SnFieldType::kInteger;
      }
      table.fields.push_back(std::move(field));
    }
    if (const rapidjson::Value* hidden = FindMember(table_json, "acl_hidden");
        hidden != nullptr && hidden->IsArray()) {
      for (const rapidjson::Value& id : hidden->GetArray()) {
        if (id.IsString()) table.acl_hidden.insert(std::string(View(id)));
      }
    }
    if (table.FindField(table.display_field) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("servicenow.tables.", table.name,
                                                     ": display_field \"", table.display_field,
                                                     "\" is not a field"));
    }
    if (store.tables_.count(table.name) > 0) {
      return absl::InvalidArgumentError(absl::StrCat("servicenow.tables: duplicate ", table.name));
    }
    std::string key = table.name;
    store.tables_.emplace(std::move(key), std::move(table));
  }
  for (const auto& [name, table] : store.tables_) {
    for (const SnField& field : table.fields) {
      if (field.type == SnFieldType::kReference &&
          store.FindTable(field.reference_table) == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("servicenow.tables.", name, ".fields.",
                                                       field.name, ": unknown table ",
                                                       field.reference_table));
      }
    }
  }
  const std::string epoch = "2024-01-01 00:00:00";
  for (const rapidjson::Value& table_json : tables->GetArray()) {
    SnTable& table = *store.FindTable(*GetString(table_json, "name"));
    const rapidjson::Value* rows = FindMember(table_json, "rows");
    if (rows == nullptr || !rows->IsArray()) continue;
    for (const rapidjson::Value& row_json : rows->GetArray()) {
      if (!row_json.IsObject()) {
        return absl::InvalidArgumentError(
            absl::StrCat("servicenow.tables.", table.name, ".rows[]: expected an object"));
      }
      SnRow row;
      for (const SnField& field : table.fields) row[field.name] = "";
      for (auto it = row_json.MemberBegin(); it != row_json.MemberEnd(); ++it) {
        const std::string key(View(it->name));
        if (table.FindField(key) == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat("servicenow.tables.", table.name, ".rows[]: unknown field ", key));
        }
        row[key] = SnValueFromJson(it->value);
      }
      if (row["sys_id"].empty()) row["sys_id"] = store.NewSysId();
      if (!IsSysId(row["sys_id"])) {
        return absl::InvalidArgumentError(absl::StrCat("servicenow.tables.", table.name,
                                                       ".rows[]: sys_id \"", row["sys_id"],
                                                       "\" is not 32 hex digits"));
      }
      if (table.FindRow(row["sys_id"]) != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "servicenow.tables.", table.name, ".rows[]: duplicate sys_id ", row["sys_id"]));
      }
      if (row["sys_created_on"].empty()) row["sys_created_on"] = epoch;
      if (row["sys_updated_on"].empty()) row["sys_updated_on"] = row["sys_created_on"];
      if (row["sys_created_by"].empty()) row["sys_created_by"] = "admin";
      if (row["sys_updated_by"].empty()) row["sys_updated_by"] = "admin";
      if (row["sys_mod_count"].empty()) row["sys_mod_count"] = "0";
      if (row["sys_class_name"].empty()) row["sys_class_name"] = table.name;
      table.AddRow(std::move(row));
    }
  }
  return store;
}

const SnTable* SnStore::FindTable(std::string_view name) const {
  const auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

SnTable* SnStore::FindTable(std::string_view name) {
  const auto it = tables_.find(name);
  return it == tables_.end() ? nullptr : &it->second;
}

std::optional<SnResolved> SnStore::Resolve(const SnTable& table, const SnRow* row,
                                           std::string_view path) const {
  SnResolved resolved;
  resolved.table = &table;
  resolved.row = row;
  const std::vector<absl::string_view> segments = absl::StrSplit(ToAbsl(path), '.');
  for (size_t i = 0; i < segments.size(); ++i) {
    const SnField* field = resolved.table->FindField(ToStd(segments[i]));
    if (field == nullptr) return std::nullopt;
    resolved.field = field;
    if (i + 1 == segments.size()) break;
    if (field->type != SnFieldType::kReference) return std::nullopt;
    const SnTable* target = FindTable(field->reference_table);
    if (target == nullptr) return std::nullopt;
    const SnRow* next = nullptr;
    if (resolved.row != nullptr) {
      const auto it = resolved.row->find(field->name);
      if (it != resolved.row->end() && !it->second.empty()) next = target->FindRow(it->second);
    }
    resolved.table = target;
    resolved.row = next;
  }
  return resolved;
}

std::string SnStore::RawValue(const SnResolved& resolved) {
  if (resolved.row == nullptr || resolved.field == nullptr) return "";
  const auto it = resolved.row->find(resolved.field->name);
  return it == resolved.row->end() ? "" : it->second;
}

std::string SnStore::DisplayValue(const SnResolved& resolved) const {
  const std::string raw = RawValue(resolved);
  if (raw.empty() || resolved.field == nullptr) return raw;
  switch (resolved.field->type) {
    case SnFieldType::kReference: {
      const SnTable* target = FindTable(resolved.field->reference_table);
      if (target == nullptr) return "";
      const SnRow* row = target->FindRow(raw);
      if (row == nullptr) return "";
      const auto it = row->find(target->display_field);
      return it == row->end() ? "" : it->second;
    }
    case SnFieldType::kChoice:
      for (const auto& [value, label] : resolved.field->choices) {
        if (value == raw) return label;
      }
      return raw;
    default:
      return raw;
  }
}

std::string SnStore::NewSysId() {
  const uint64_t a = Mix(next_id_ * 2);
  const uint64_t b = Mix(next_id_ * 2 + 1);
  ++next_id_;
  return absl::StrFormat("%016x%016x", a, b);
}

std::string SnStore::FormatTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", time, absl::UTCTimeZone());
}

std::string SnValueFromJson(const rapidjson::Value& value) {
  if (value.IsString()) return std::string(View(value));
  if (value.IsBool()) return value.GetBool() ? "true" : "false";
  if (value.IsInt64()) return absl::StrCat(value.GetInt64());
  if (value.IsUint64()) return absl::StrCat(value.GetUint64());
  if (value.IsNumber()) return absl::StrCat(value.GetDouble());
  if (value.IsObject()) {
    if (const rapidjson::Value* inner = FindMember(value, "value"); inner != nullptr) {
      return SnValueFromJson(*inner);
    }
  }
  return "";
}

}  // namespace onsync::sandbox
