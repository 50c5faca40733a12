// An asynchronous client for the Onspring REST API v2 (onspring-api.md §1-6): records (get,
// batch-get, query, save, delete), field metadata and list values.
//
// Contracts:
//   - Every request carries `X-ApiKey` (registered with Redactor::Global()), `Accept:
//     application/json`, and `Content-Type: application/json` when it has a body.
//   - Paged endpoints (QueryRecords, GetFieldsByApp) are read to the end: pageNumber 1..totalPages,
//     stopping early at an empty page. Batch-get is split into chunks of at most 100 ids that run
//     in parallel; the results come back in the order of the requested ids (duplicates removed;
//     ids Onspring does not return are simply absent).
//   - HTTP errors become a Status through StatusFromHttp (400 INVALID_ARGUMENT, 401
//     UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429/5xx UNAVAILABLE, …); the message
//     carries Onspring's `{"message": …}` (any key case) or a snippet of an HTML or empty body. A
//     2xx body that is not the expected JSON is UNAVAILABLE.
//   - Response JSON keys are matched case-insensitively (`recordId`, `RecordId`).
//   - Creates (SaveRecord with record_id 0, AddListValue) are sent with `idempotent = false`, so
//   the
//     transport retries them only when they certainly were not processed.
//
// Value model (FieldValue): the `type` tag of each `fieldData[]` entry (§4.1) picks the member:
//   String -> kString (text) | Integer -> kInteger (integer) | Decimal -> kDecimal (decimal)
//   Date -> kDate (text, ISO-8601 as sent) | Guid -> kGuid (text) | StringList -> kStringList
//   (strings) | GuidList -> kGuidList (strings) | IntegerList -> kIntegerList (integers)
//   | FileList -> kFileList (integers) | null value -> kNull
//   anything else (TimeSpan, AttachmentList, ScoringGroupList, unknown tags) or a value whose JSON
//   shape does not match its tag -> kRaw: `raw_type` is the tag, `text` the value's JSON text.
// A field Onspring leaves out of `fieldData` is absent from Record::fields; callers treat absent
// and kNull alike (Onspring's choice between the two is undocumented). A single-select reference
// may arrive as kInteger or kIntegerList (undocumented); accept both.
// Writing (SaveRecord): kString/kDate/kGuid as JSON strings, kInteger/kDecimal as numbers, lists as
// arrays, kNull as null, kRaw as its JSON text (a TimeSpan object, say).
//
// Thread safety: thread-safe. Every callback runs exactly once, on a transport or scheduler thread,
// never inline from the call that takes it; callbacks must not block. The client, its transport
// and scheduler must outlive every pending callback.
#ifndef ONSYNC_CLIENTS_ONSPRING_ONSPRING_CLIENT_H_
#define ONSYNC_CLIENTS_ONSPRING_ONSPRING_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"

namespace onsync::clients::onspring {

struct FieldValue {
  enum class Type {
    kNull,
    kString,
    kInteger,
    kDecimal,
    kDate,
    kGuid,
    kStringList,
    kIntegerList,
    kGuidList,
    kFileList,
    kRaw,
  };

  Type type = Type::kNull;
  // kString, kDate, kGuid; the JSON text for kRaw.
  std::string text;
  int64_t integer = 0;
  double decimal = 0;
  // kStringList, kGuidList.
  std::vector<std::string> strings;
  // kIntegerList, kFileList.
  std::vector<int64_t> integers;
  // The wire `type` tag of a kRaw value, e.g. "TimeSpan".
  std::string raw_type;

  static FieldValue Null() { return {}; }
  static FieldValue String(std::string text);
  static FieldValue Integer(int64_t value);
  static FieldValue Decimal(double value);
  // `iso` e.g. "2023-02-15T06:00:00Z" (UTC).
  static FieldValue Date(std::string iso);
  static FieldValue Guid(std::string guid);
  static FieldValue StringList(std::vector<std::string> values);
  static FieldValue GuidList(std::vector<std::string> guids);
  static FieldValue IntegerList(std::vector<int64_t> record_ids);
  static FieldValue FileList(std::vector<int64_t> file_ids);
  static FieldValue Raw(std::string type_tag, std::string json);

  friend bool operator==(const FieldValue&, const FieldValue&) = default;
};

struct Record {
  int64_t record_id = 0;
  int app_id = 0;
  std::map<int, FieldValue> fields;

  friend bool operator==(const Record&, const Record&) = default;
};

struct SaveResult {
  int64_t id = 0;
  // True for 201 (created), false for 200 (updated).
  bool created = false;
  std::vector<std::string> warnings;
};

struct ListValue {
  std::string id;  // GUID
  std::string name;
  int sort_order = 0;
  std::optional<double> numeric_value;
  std::string color;
};

struct Field {
  int id = 0;
  int app_id = 0;
  std::string name;
  // Text, Number, AutoNumber, Date, TimeSpan, List, Reference, Formula, Attachment, Image, …
  std::string type;
  // Enabled, Disabled, …
  std::string status;
  bool is_required = false;
  bool is_unique = false;
  // SingleSelect or MultiSelect for List and Reference fields; empty otherwise.
  std::string multiplicity;
  // List fields.
  std::optional<int> list_id;
  // Reference fields.
  std::optional<int> referenced_app_id;
  // Formula fields: Text, Numeric, DateAndTime, ListValue.
  std::string output_type;
  // List fields, and Formula fields with ListValue output.
  std::vector<ListValue> values;
};

struct OnspringClientOptions {
  // e.g. `https://api.onspring.com`; a path prefix is allowed, a trailing '/' ignored.
  std::string base_url = {};
  std::string api_key = {};
  // PageSize of paged reads, 1..1000.
  int page_size = 1000;
};

class OnspringClient {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;

  // INVALID_ARGUMENT for a base URL that is not http(s), an empty API key or a bad page size.
  static absl::StatusOr<std::unique_ptr<OnspringClient>> Create(HttpTransport& transport,
                                                                Scheduler& scheduler,
                                                                OnspringClientOptions options);

  // `GET /Records/appId/{appId}/recordId/{recordId}?fieldIds=1,2&dataFormat=Raw` (all fields when
  // `field_ids` is empty). 404 gives NOT_FOUND.
  void GetRecord(int app_id, int64_t record_id, std::vector<int> field_ids, const CallOptions& call,
                 Callback<Record> done);

  // `POST /Records/batch-get` in chunks of 100 ids.
  void BatchGetRecords(int app_id, std::vector<int64_t> record_ids, std::vector<int> field_ids,
                       const CallOptions& call, Callback<std::vector<Record>> done);

  // `POST /Records/Query?PageNumber=n&PageSize=s` with `{appId, filter, fieldIds, dataFormat}`
  // over every page; an empty `filter` (no filtering) is left out of the body.
  void QueryRecords(int app_id, std::string filter, std::vector<int> field_ids,
                    const CallOptions& call, Callback<std::vector<Record>> done);

  // `PUT /Records` with `{appId, recordId, fields}`: record_id 0 creates (201; `recordId` left
  // out, sent non-idempotent), otherwise updates only `fields` (200). `fields` must not be empty.
  void SaveRecord(int app_id, int64_t record_id, std::map<int, FieldValue> fields,
                  const CallOptions& call, Callback<SaveResult> done);

  // `DELETE /Records/appId/{appId}/recordId/{recordId}` (204). 404 gives NOT_FOUND.
  void DeleteRecord(int app_id, int64_t record_id, const CallOptions& call, DoneCallback done);

  // `GET /Fields/appId/{appId}?PageNumber=n&PageSize=s` over every page.
  void GetFieldsByApp(int app_id, const CallOptions& call, Callback<std::vector<Field>> done);

  // `PUT /Lists/id/{listId}/items` with `{"name": …}`: creates a list value and returns its GUID.
  void AddListValue(int list_id, std::string name, const CallOptions& call,
                    Callback<std::string> done);

 private:
  OnspringClient(HttpTransport& transport, Scheduler& scheduler, std::string base_url,
                 std::string api_key, int page_size);

  struct QueryState;
  struct FieldsState;

  HttpRequest NewRequest(std::string method, std::string path, const CallOptions& call) const;
  template <typename T>
  void Fail(Callback<T> done, absl::Status status);
  void QueryPage(std::shared_ptr<QueryState> state);
  void FieldsPage(std::shared_ptr<FieldsState> state);

  HttpTransport& transport_;
  Scheduler& scheduler_;
  const std::string base_url_;
  const std::string api_key_;
  const int page_size_;
};

}  // namespace onsync::clients::onspring

#endif  // ONSYNC_CLIENTS_ONSPRING_ONSPRING_CLIENT_H_
