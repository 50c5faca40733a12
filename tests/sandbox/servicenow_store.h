// The fake ServiceNow's data: tables of string-valued rows with a schema that marks references
// (target table), choices (value -> label), date/times, booleans and integers. Every table gets
// the system columns sys_id (32 lower-case hex), sys_created_on, sys_created_by,
// sys_updated_on, sys_updated_by (UTC "YYYY-MM-DD HH:MM:SS"), sys_mod_count and sys_class_name.
// Also resolves dot-walked paths ("it_application_owner.name") through references.
//
// Seed format (the "servicenow" member of a seed file; see README.md):
//   {"tables": [{"name": "sys_user", "display_field": "name",
//                "fields": [{"name": "manager", "type": "reference", "reference": "sys_user"},
//                           {"name": "install_type", "type": "choice",
//                            "choices": [{"value": "cloud", "label": "Cloud"}]}, ...],
//                "acl_hidden": ["<sys_id>", ...],
//                "rows": [{"sys_id": "...", "name": "...", ...}]}]}
// Field types: string (default), reference, choice, datetime, boolean, integer. Row values are
// JSON strings (numbers and booleans are converted); columns a row leaves out are "".
//
// Thread safety: none; the owner (ServiceNowFake) serialises access.
#ifndef ONSYNC_TESTS_SANDBOX_SERVICENOW_STORE_H_
#define ONSYNC_TESTS_SANDBOX_SERVICENOW_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace onsync::sandbox {

enum class SnFieldType { kString, kReference, kChoice, kDateTime, kBoolean, kInteger };

struct SnField {
  std::string name;
  SnFieldType type = SnFieldType::kString;
  std::string reference_table;                               // kReference
  std::vector<std::pair<std::string, std::string>> choices;  // kChoice: value -> label
};

using SnRow = std::map<std::string, std::string, std::less<>>;

struct SnTable {
  std::string name;
  std::string display_field = "name";
  std::vector<SnField> fields;                    // schema order, system columns last
  std::vector<SnRow> rows;                        // insertion order (the default result order)
  std::set<std::string, std::less<>> acl_hidden;  // sys_ids the simulated ACL hides

  const SnField* FindField(std::string_view name) const;
  const SnRow* FindRow(std::string_view sys_id) const;
  SnRow* FindRow(std::string_view sys_id);
  // Appends a row (its sys_id must be new) / erases the row with this sys_id (if any), keeping
  // the sys_id index in step. Mutate `rows` only through these.
  SnRow& AddRow(SnRow row);
  void EraseRow(std::string_view sys_id);

 private:
  void Reindex();
  std::map<std::string, size_t, std::less<>> index_;  // sys_id -> position in `rows`
};

// Where a (possibly dot-walked) path ends: the last field, its table, and the row holding it
// (nullptr when a reference on the way is empty or dangling: the value is then "").
struct SnResolved {
  const SnField* field = nullptr;
  const SnTable* table = nullptr;
  const SnRow* row = nullptr;
};

class SnStore {
 public:
  // Builds the store from the seed's "servicenow" member. Errors: INVALID_ARGUMENT naming the
  // table, field or row (unknown types, missing names, references to unknown tables, bad sys_id).
  static absl::StatusOr<SnStore> FromSeed(const rapidjson::Value& seed);

  const SnTable* FindTable(std::string_view name) const;
  SnTable* FindTable(std::string_view name);

  // Resolves `path` from `table`; nullopt when a segment names no field, or an intermediate
  // segment is not a reference.
  std::optional<SnResolved> Resolve(const SnTable& table, const SnRow* row,
                                    std::string_view path) const;

  // The raw value of a resolved path ("" when the row is null or lacks the column).
  static std::string RawValue(const SnResolved& resolved);
  // The display value: a reference's target display field, a choice's label, else the raw value.
  std::string DisplayValue(const SnResolved& resolved) const;

  // A fresh sys_id (32 lower-case hex, deterministic sequence) and the current UTC time in
  // ServiceNow's format.
  std::string NewSysId();
  static std::string FormatTime(absl::Time time);

 private:
  std::map<std::string, SnTable, std::less<>> tables_;
  uint64_t next_id_ = 1;
};

// The string stored for a JSON input value: strings as they are, numbers and booleans as text,
// null as "". Objects with a "value" member (display_value=all shapes echoed back) use it.
std::string SnValueFromJson(const rapidjson::Value& value);

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_SERVICENOW_STORE_H_
