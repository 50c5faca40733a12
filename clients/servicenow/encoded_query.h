// A builder for ServiceNow encoded queries (`sysparm_query`) that can only say exact-match-safe
// things, and the percent-encoding used to put any query parameter into a URL.
//
// ServiceNow's query grammar has no documented escaping and silently drops terms it cannot parse
// (servicenow-api.md §1.3), so a value spliced in by hand can widen a query (`a^ORname=b`, `x^NQ…`)
// or run server-side script (`javascript:…`). This builder:
//   - validates field names against `[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*` (dot-walks allowed);
//   - writes a literal `^` inside a value as `^^` (GlideStringUtil.escapeQueryTermSeparator);
//   - rejects values that are empty, contain a newline, carriage return or NUL, or that start with
//     `javascript:` (case-insensitive, after leading whitespace): INVALID_ARGUMENT;
//   - has no IN operator: `In` is a chain of `^OR` equalities, because commas cannot be escaped
//     inside an IN list.
// Callers still re-check equality on the rows that come back (TableClient::LookupByKey does).
//
// Grammar produced: groups joined by `^NQ` (OR of groups); inside a group, clauses joined by `^`
// (AND); a clause is one condition or an `^OR` chain of conditions (OR binds tighter than AND);
// then `^ORDERBY<field>` / `^ORDERBYDESC<field>` terms, which apply to the whole query.
//
// The first error is sticky: later calls are ignored and Build() returns it.
//
// Thread safety: an EncodedQuery is a value; distinct objects may be used concurrently, one object
// needs external synchronization. The free functions are pure.
#ifndef ONSYNC_CLIENTS_SERVICENOW_ENCODED_QUERY_H_
#define ONSYNC_CLIENTS_SERVICENOW_ENCODED_QUERY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace onsync::clients::servicenow {

// OK when `field` is a column name or dot-walk path: `[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*`.
absl::Status ValidateFieldName(std::string_view field);

// `value` made safe for the value part of one condition (`^` doubled), or INVALID_ARGUMENT when
// it is empty, contains '\n', '\r' or NUL, or starts with `javascript:` after leading whitespace.
absl::StatusOr<std::string> EscapeQueryValue(std::string_view value);

// Percent-encodes every byte except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~), with
// upper-case hex digits. Suitable for query-parameter values and form bodies.
std::string UrlEncode(std::string_view text);

class EncodedQuery {
 public:
  EncodedQuery() = default;

  // `field=value`.
  EncodedQuery& Equals(std::string_view field, std::string_view value);
  // `field=v1^ORfield=v2…`: one clause true when the field equals any of `values` (duplicates
  // removed, order kept). INVALID_ARGUMENT when `values` is empty.
  EncodedQuery& In(std::string_view field, const std::vector<std::string>& values);
  // `field>value` / `field>=value`: lexical for strings, which is what `sys_updated_on`
  // (`YYYY-MM-DD HH:MM:SS` UTC) and `sys_id` cursors need. GreaterThan refuses a value starting
  // with `=` (INVALID_ARGUMENT): `field>=x` would mean `>=`.
  EncodedQuery& GreaterThan(std::string_view field, std::string_view value);
  EncodedQuery& GreaterOrEquals(std::string_view field, std::string_view value);
  // Starts a new group, OR'd with the previous ones (`^NQ`). An empty group is an error at Build.
  EncodedQuery& NewGroup();
  // `^ORDERBY<field>` or `^ORDERBYDESC<field>`, in call order, applying to the whole query.
  EncodedQuery& OrderBy(std::string_view field, bool descending = false);

  // The query text (not yet percent-encoded), or the first error. An entirely empty builder gives
  // "" (no filter).
  absl::StatusOr<std::string> Build() const;

  // Rows strictly after the cursor (updated_on, sys_id) in (sys_updated_on, sys_id) order, further
  // restricted by `filter` (conditions only, no ORDERBY and no NewGroup; may be empty):
  //   F^sys_updated_on>T^NQF^sys_updated_on=T^sys_id>S^ORDERBYsys_updated_on^ORDERBYsys_id
  // The encoded-query form of `(sys_updated_on>T) OR (sys_updated_on=T AND sys_id>S)`: `^OR`
  // cannot group a conjunction, so the two halves are `^NQ` groups, each repeating `filter`.
  // With an empty `sys_id`: F^sys_updated_on>=T^ORDER…; with both empty: F^ORDER… (a full run).
  static absl::StatusOr<std::string> AfterCursor(const EncodedQuery& filter,
                                                 std::string_view updated_on,
                                                 std::string_view sys_id);

 private:
  struct Condition {
    std::string field;
    std::string op;
    std::string escaped_value;
  };
  // One clause: conditions joined by ^OR.
  using Clause = std::vector<Condition>;
  // One group: clauses joined by ^.
  using Group = std::vector<Clause>;

  EncodedQuery& AddCondition(std::string_view field, std::string_view op, std::string_view value);
  static void AppendGroup(const Group& group, std::string& out);

  absl::Status status_;
  std::vector<Group> groups_ = {Group{}};
  std::vector<std::string> order_by_;
};

}  // namespace onsync::clients::servicenow

#endif  // ONSYNC_CLIENTS_SERVICENOW_ENCODED_QUERY_H_
