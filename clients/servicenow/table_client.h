// An asynchronous client for ServiceNow's Table API (`/api/now/table/{table}`,
// servicenow-api.md §1): list a page, list every page, get one row, look a row up by key.
//
// Contracts:
//   - Credentials (from the Authenticator) are only sent to the configured instance origin. A
//     `Link: rel="next"` URL on another origin is refused (FAILED_PRECONDITION), never followed.
//   - A 401 on an OAuth request invalidates the token and retries the request once.
//   - HTTP errors become a Status through StatusFromHttp (400 INVALID_ARGUMENT, 401
//     UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429/5xx UNAVAILABLE, …); the
//     message carries ServiceNow's `error.message` and `error.detail`, or a snippet of an HTML or
//     empty body. A 2xx body that is not the expected JSON, or that says `"status":"failure"`, is
//     UNAVAILABLE (a hibernating instance answers 200 with an HTML page; a cancelled transaction
//     can answer 200 with a failure body).
//   - Invalid arguments (table, field or sys_id names, query values) are INVALID_ARGUMENT before
//     anything is sent.
//
// Row model: every value ServiceNow returns is a string (§1.4). A Row maps each returned field name
// (dot-walks as flat keys: `it_application_owner.name`) to a FieldValue:
//   - `value`: the raw value with display_value kFalse and kAll; the display value with kTrue
//     (ServiceNow sends nothing else then);
//   - `display_value`: the display value with kTrue and kAll; empty with kFalse;
//   - a reference object (`{"link", "value"}`, `{"display_value", "link"}`, `{"display_value",
//     "value"}`) is flattened into the two members above; its `link` is dropped;
//   - JSON null (which the docs say does not happen, empty is "") gives empty strings and
//     `is_null = true`; numbers and booleans are kept as their JSON text;
//   - a field the caller asked for but ServiceNow left out (unknown name, hidden by ACL) is absent
//     from the Row, which is different from present-and-empty.
//
// Thread safety: thread-safe. Every callback runs exactly once, on a transport or scheduler thread,
// never inline from the call that takes it; callbacks must not block. The client, its transport,
// scheduler and authenticator must outlive every pending callback.
#ifndef ONSYNC_CLIENTS_SERVICENOW_TABLE_CLIENT_H_
#define ONSYNC_CLIENTS_SERVICENOW_TABLE_CLIENT_H_

#include <cstdint>
#include <functional>
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
#include "clients/servicenow/auth.h"

namespace onsync::clients::servicenow {

// `sysparm_display_value`.
enum class DisplayValue { kFalse, kTrue, kAll };

struct FieldValue {
  std::string value;
  std::string display_value;
  bool is_null = false;

  friend bool operator==(const FieldValue&, const FieldValue&) = default;
};

struct Row {
  std::map<std::string, FieldValue, std::less<>> fields;

  // The field's `value`, or nullopt when ServiceNow did not return the field.
  std::optional<std::string_view> Value(std::string_view field) const;
  // The field, or nullptr when ServiceNow did not return it.
  const FieldValue* Find(std::string_view field) const;

  friend bool operator==(const Row&, const Row&) = default;
};

// Request structs give every member an initializer (`= {}`) so that callers may use designated
// initializers and leave members out without -Wmissing-field-initializers.
struct ListRequest {
  // `[A-Za-z0-9_]+`.
  std::string table = {};
  // An encoded query (EncodedQuery::Build), not yet percent-encoded; empty for none.
  std::string query = {};
  // `sysparm_fields`; dot-walks allowed; empty for every column.
  std::vector<std::string> fields = {};
  DisplayValue display_value = DisplayValue::kFalse;
  bool exclude_reference_link = true;
  // `sysparm_limit`: rows per page, 1..10000. ServiceNow's default (10000) is never relied on.
  int limit = 1000;
  int64_t offset = 0;
  // `sysparm_no_count`: skip the count (no X-Total-Count comes back).
  bool no_count = true;
  // For the whole call (every page, the 401 retry included).
  CallOptions call = {};
};

struct TablePage {
  std::vector<Row> rows;
  // The absolute `rel="next"` URL of the `Link` header (a relative one resolved against the
  // instance), when there is one. Not checked here; ForEachPage refuses one on another origin.
  std::optional<std::string> next_link;
  // `X-Total-Count` (counted before ACLs; absent with no_count).
  std::optional<int64_t> total_count;
  // Whether the response carried a `Link` header at all.
  bool has_link_header = false;
};

struct GetRequest {
  std::string table = {};
  std::string sys_id = {};
  std::vector<std::string> fields = {};
  DisplayValue display_value = DisplayValue::kFalse;
  bool exclude_reference_link = true;
  CallOptions call = {};
};

struct LookupRequest {
  std::string table = {};
  // The field whose value identifies a row (dot-walk allowed); always added to `fields`.
  std::string key_field = {};
  std::string value = {};
  std::vector<std::string> fields = {};
  // The key is compared against FieldValue::value, i.e. the raw value unless kTrue.
  DisplayValue display_value = DisplayValue::kFalse;
  bool exclude_reference_link = true;
  CallOptions call = {};
};

class TableClient {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;
  using DoneCallback = absl::AnyInvocable<void(absl::Status) &&>;
  // Called once per non-empty page, in order, on a transport thread. Returning an error stops
  // the iteration; `done` then receives that error.
  using PageCallback = absl::AnyInvocable<absl::Status(TablePage&)>;

  // INVALID_ARGUMENT when `instance_url` is not an http(s) origin (a trailing '/' is allowed).
  static absl::StatusOr<std::unique_ptr<TableClient>> Create(HttpTransport& transport,
                                                             Scheduler& scheduler,
                                                             Authenticator& authenticator,
                                                             std::string_view instance_url);

  // The normalized instance origin, e.g. `https://acme.service-now.com`.
  const std::string& origin() const { return origin_; }

  // One page: `GET {instance}/api/now/table/{table}?sysparm_query=…&sysparm_fields=…
  // &sysparm_display_value=…&sysparm_exclude_reference_link=…&sysparm_limit=…&sysparm_offset=…
  // &sysparm_no_count=…` (parameters with empty values left out).
  void List(ListRequest request, Callback<TablePage> done);

  // Every page, following `Link: rel="next"` (never X-Total-Count, and never the page length: a
  // page cut short by ACLs is not the end). Stops at an empty page or when the Link header has no
  // `next`. When a non-empty response carries no Link header at all (unverified combinations such
  // as sysparm_no_count), it continues by offset (offset += limit) until an empty page. A next
  // URL on another origin, or one already fetched (a loop), fails the call.
  void ForEachPage(ListRequest request, PageCallback on_page, DoneCallback done);
  // ForEachPage collecting every row.
  void ListAll(ListRequest request, Callback<std::vector<Row>> done);

  // `GET {instance}/api/now/table/{table}/{sys_id}`; 404 gives NOT_FOUND.
  void Get(GetRequest request, Callback<Row> done);

  // The one row whose `key_field` equals `value` byte for byte: a List with `key_field=<value>`
  // and sysparm_limit=2, re-checked on the client (ServiceNow drops query terms it cannot parse,
  // and text matching may ignore case). nullopt when no row matches; ABORTED
  // "ambiguous: more than one <table> row has <key_field> = "<value>"" when two do. When both
  // rows came back and they differ from `value` only by case or trailing blanks (a
  // case-insensitive collation), the rows beyond them are read too (pages of 100) so that an exact
  // match hidden behind them is found.
  void LookupByKey(LookupRequest request, Callback<std::optional<Row>> done);

 private:
  TableClient(HttpTransport& transport, Scheduler& scheduler, Authenticator& authenticator,
              std::string origin);

  struct PageLoop;

  // Sends `request` with credentials; on a 401 with a refreshable authenticator, once more.
  void Execute(HttpRequest request, bool retried, Callback<HttpResponse> done);
  // Runs `done(status)` on the scheduler (never inline).
  template <typename T>
  void Fail(Callback<T> done, absl::Status status);
  absl::StatusOr<std::string> ListUrl(const ListRequest& request) const;
  void FetchPage(std::string url, const CallOptions& call, Callback<TablePage> done);
  void NextPage(std::shared_ptr<PageLoop> loop);
  void LookupFallback(std::shared_ptr<LookupRequest> request, std::string query,
                      std::vector<std::string> fields, Callback<std::optional<Row>> done);

  HttpTransport& transport_;
  Scheduler& scheduler_;
  Authenticator& authenticator_;
  const std::string origin_;
};

}  // namespace onsync::clients::servicenow

#endif  // ONSYNC_CLIENTS_SERVICENOW_TABLE_CLIENT_H_
