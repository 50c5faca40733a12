// The fake Onspring's data: apps, fields (Text, Number, Date, AutoNumber, List, Reference,
// Formula), lists of values with GUIDs, and records; plus the value rules of onspring-api.md §4:
// validation and conversion of `PUT /Records` input, the Raw and Formatted output shapes, formula
// recomputation, and the text rendering used by formulas and outcome tokens.
//
// Record ids are internal, allocated per app from 1 (monotonically, never reused); every app
// also has an AutoNumber "Record Id" field numbered separately (from 1001 unless the seed says
// otherwise), so a client that mixes the two is caught.
//
// Seed format (the "onspring" member of a seed file; see README.md):
//   {"lists": [{"id": 3401, "values": [{"id": "<guid>", "name": "Cloud", "sortOrder": 1,
//                                       "numericValue": null, "color": "#ffffff"}]}],
//    "apps": [{"id": 300, "name": "Business Applications", "auto_number_start": 1001,
//              "fields": [{"id": 3001, "name": "Name", "type": "Text"},
//                         {"id": 3004, "name": "Install Type", "type": "List", "listId": 3401},
//                         {"id": 3006, "name": "Owner", "type": "Reference",
//                          "referencedAppId": 100, "multiplicity": "SingleSelect"},
//                         {"id": 1005, "name": "Full Name", "type": "Formula",
//                          "formula": "{:First Name} {:Last Name}"},
//                         {"id": 3012, "name": "Record Id", "type": "AutoNumber"}],
//              "records": [{"recordId": 1, "fields": {"3001": "Payroll"}}]}]}
// Seed record fields use the `PUT /Records` input format.
//
// Thread safety: none; the owner (OnspringFake) serialises access.
#ifndef ONSYNC_TESTS_SANDBOX_ONSPRING_STORE_H_
#define ONSYNC_TESTS_SANDBOX_ONSPRING_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "rapidjson/document.h"
#include "tests/sandbox/json_util.h"

namespace onsync::sandbox {

enum class OsFieldType { kText, kNumber, kDate, kAutoNumber, kList, kReference, kFormula };

std::string_view OsFieldTypeName(OsFieldType type);

struct OsListValue {
  std::string id;  // GUID, lower case
  std::string name;
  int64_t sort_order = 0;
  std::optional<double> numeric_value;
  std::string color = "#ffffff";
};

struct OsList {
  int64_t id = 0;
  std::vector<OsListValue> values;
};

struct OsField {
  int64_t id = 0;
  int64_t app_id = 0;
  std::string name;
  OsFieldType type = OsFieldType::kText;
  bool multi = false;             // List and Reference: MultiSelect
  int64_t list_id = 0;            // List
  int64_t referenced_app_id = 0;  // Reference
  std::string formula;            // Formula: a template of {:Field Name} tokens
  std::string output_type = "Text";
  bool is_required = false;
  bool is_unique = false;
  std::string prefix;  // AutoNumber: shown in Formatted output
};

// A stored value: Text/Date/Formula -> string (dates as YYYY-MM-DDTHH:MM:SSZ), Number ->
// double, AutoNumber -> int64, List -> GUIDs, Reference -> record ids. Empty = monostate.
using OsValue = std::variant<std::monostate, std::string, double, int64_t, std::vector<std::string>,
                             std::vector<int64_t>>;

bool IsEmptyValue(const OsValue& value);

struct OsRecord {
  int64_t id = 0;
  std::map<int64_t, OsValue> values;  // field id -> value; empty values are not stored
};

struct OsApp {
  int64_t id = 0;
  std::string name;
  std::vector<int64_t> field_ids;  // definition order
  int64_t primary_field_id = 0;    // the record's title (Formatted references, outcome tokens)
  std::map<int64_t, OsRecord> records;
  int64_t next_record_id = 1;
  int64_t next_auto_number = 1001;
};

// A value error in a save, with the HTTP status the fake answers.
struct OsError {
  int status = 400;
  std::string message;
};

class OsStore {
 public:
  // Errors: INVALID_ARGUMENT naming the list, app, field or record.
  static absl::StatusOr<OsStore> FromSeed(const rapidjson::Value& seed);

  const std::map<int64_t, OsApp>& apps() const { return apps_; }
  const OsApp* FindApp(int64_t id) const;
  OsApp* FindApp(int64_t id);
  const OsField* FindField(int64_t id) const;
  const OsList* FindList(int64_t id) const;
  OsList* FindList(int64_t id);
  // The value of the field's list whose GUID (case-insensitive) or, with `by_name`, name equals
  // `key`; nullptr if none.
  const OsListValue* FindListValue(const OsField& field, std::string_view key, bool by_name) const;
  // The app's field called `name` (exact), or nullptr.
  const OsField* FindFieldByName(const OsApp& app, std::string_view name) const;

  // Converts one `PUT /Records` input value for `field`. null clears. Read-only fields, wrong
  // shapes, unknown list GUIDs and unknown referenced records are errors (400).
  std::variant<OsValue, OsError> ConvertInput(const OsField& field,
                                              const rapidjson::Value& value) const;
  // Converts one response value of an outcome's Data Mapping for `field`: text for Text,
  // numbers (or numeric text) for Number, list value name (or GUID) for List ("|"-joined or an
  // array for MultiSelect), record id(s) for Reference ("12|34", 12, "12" or [12, 34]).
  std::variant<OsValue, OsError> ConvertMapped(const OsField& field,
                                               const rapidjson::Value& value) const;

  // Creates (record_id = nullopt) or updates a record with already-validated values (partial
  // merge), assigns the auto-number on create and recomputes formulas. Returns the record id;
  // NOT_FOUND for an unknown record.
  absl::StatusOr<int64_t> Apply(OsApp& app, std::optional<int64_t> record_id,
                                const std::map<int64_t, OsValue>& values);

  // Writes {"appId", "recordId", "fieldData": [...]} (empty fields omitted; `field_ids` empty
  // = all fields).
  void WriteRecord(JsonWriter& out, const OsApp& app, const OsRecord& record,
                   const std::vector<int64_t>& field_ids, bool formatted) const;
  // Writes a Field object (polymorphic list/reference/formula shapes).
  void WriteField(JsonWriter& out, const OsField& field) const;
  void WriteListValue(JsonWriter& out, const OsListValue& value) const;

  // The value as plain text: list values by name (or GUID with `list_guid`), references by the
  // referenced records' ids joined with "|" (`references_as_title`: their titles joined with
  // ", "), dates as YYYY-MM-DDTHH:MM:SSZ, numbers without trailing zeros; multi values joined
  // with ", ".
  std::string RenderText(const OsField& field, const OsValue& value, bool list_guid,
                         bool references_as_title) const;
  // The record's title: the text of the app's primary field.
  std::string Title(const OsApp& app, const OsRecord& record) const;
  // `text` with every {:Field Name} token of `app` replaced by `escape(RenderText(...))`;
  // unknown tokens become "".
  std::string RenderTemplate(const OsApp& app, const OsRecord& record, std::string_view text,
                             bool list_guid,
                             const std::function<std::string(std::string_view)>& escape) const;

  std::string NewGuid();

 private:
  void RecomputeFormulas(const OsApp& app, OsRecord& record) const;

  std::map<int64_t, OsApp> apps_;
  std::map<int64_t, OsField> fields_;
  std::map<int64_t, OsList> lists_;
  uint64_t next_guid_ = 1;
};

// Parses a date as the API accepts it: ISO 8601 (with Z, an offset or none = UTC, optional
// fractional seconds) or M/D/YYYY; returns YYYY-MM-DDTHH:MM:SSZ.
std::optional<std::string> NormalizeDate(std::string_view text);

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_ONSPRING_STORE_H_
