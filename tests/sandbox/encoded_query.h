// ServiceNow encoded queries (`sysparm_query`): parsing and evaluation against a table of the
// fake.
//
// Grammar as the fake implements it (servicenow-api.md §1.3):
//   - The text splits on `^`; `^^` is a literal `^` inside a value (GlideStringUtil's escape).
//   - A segment starting with `NQ` starts a new OR'ed group: (A^B)^NQ(C^D).
//   - A segment starting with `OR` is OR'ed with the condition before it; `^OR` binds tighter
//     than `^`: A^B^ORC = A AND (B OR C).
//   - `ORDERBY<field>` / `ORDERBYDESC<field>` sort (chainable); `EQ` is ignored.
//   - A condition is <field><OP><value>: the field is [a-z0-9_.]+ (dot-walks allowed), then the
//     longest matching operator: = != LIKE NOT LIKE STARTSWITH ENDSWITH IN NOT IN ISEMPTY
//     ISNOTEMPTY EMPTYSTRING ANYTHING < <= > >= BETWEEN(a@b) SAMEAS NSAMEAS, plus the UI
//     aliases * (LIKE), !* (NOT LIKE) and % (ENDSWITH).
//   - Like the real instance, a condition naming an unknown field (or one that does not parse)
//     is silently DROPPED and the rest still runs; a group whose conditions were all dropped
//     matches every row. With `invalid_query_returns_no_rows` (the instance property
//     glide.invalid_query.returns_no_rows) any invalid condition makes the query match nothing.
//   - `javascript:` values: only gs.dateGenerate('YYYY-MM-DD','HH:MM:SS') is evaluated (as UTC);
//     any other script makes the condition invalid (dropped).
//   - Text comparison is case-insensitive (ASCII) unless `case_sensitive`. Conditions other than
//     the emptiness operators never match an empty value for != / NOT LIKE / NOT IN either (SQL
//     NULL semantics), and ordering comparisons never match empty values.
//   - Integer columns compare numerically; everything else lexically (dates have a sortable
//     format). ORDERBY sorts references by display value; ties keep insertion order.
//
// Thread safety: pure data and const evaluation; the store must not change while an evaluator
// that references it is used.
#ifndef ONSYNC_TESTS_SANDBOX_ENCODED_QUERY_H_
#define ONSYNC_TESTS_SANDBOX_ENCODED_QUERY_H_

#include <string>
#include <string_view>
#include <vector>

#include "tests/sandbox/servicenow_store.h"

namespace onsync::sandbox {

struct SnCondition {
  std::string text;   // the segment as written (after `^^` unescaping)
  std::string field;  // possibly dot-walked
  std::string op;     // canonical operator ("=", "LIKE", "NOT IN", ...)
  std::string value;
  bool parsed = false;         // false: the segment is not a condition
  bool match_display = false;  // `field=value` URL filters: raw or display value may match
};

struct SnOrder {
  std::string field;
  bool descending = false;
};

struct SnEncodedQuery {
  // Groups (joined by ^NQ, OR'ed) of terms (joined by ^, AND'ed) of alternatives (^OR).
  std::vector<std::vector<std::vector<SnCondition>>> groups;
  std::vector<SnOrder> order_by;
};

// Splits on `^`, turning `^^` into a literal `^` inside a segment.
std::vector<std::string> SplitEncodedQuery(std::string_view text);

// Never fails: segments that are not conditions are kept with parsed = false.
SnEncodedQuery ParseEncodedQuery(std::string_view text);

// Parses one condition segment ("nameSTARTSWITHfoo").
SnCondition ParseCondition(std::string_view segment);

struct SnQueryOptions {
  bool case_sensitive = false;
  bool invalid_query_returns_no_rows = false;
};

class SnQueryEvaluator {
 public:
  SnQueryEvaluator(const SnStore& store, const SnTable& table, const SnEncodedQuery& query,
                   SnQueryOptions options);

  bool Matches(const SnRow& row) const;
  // Sorts rows by the query's ORDERBY terms (stable; unknown fields ignored).
  void Sort(std::vector<const SnRow*>& rows) const;
  // The condition texts that were dropped (unknown field, unparseable, unsupported script).
  const std::vector<std::string>& dropped() const { return dropped_; }

 private:
  struct Compiled {
    SnCondition condition;
    std::string value;  // after javascript: evaluation
  };
  bool Evaluate(const Compiled& compiled, const SnRow& row) const;
  bool ValidField(std::string_view path) const;

  const SnStore& store_;
  const SnTable& table_;
  const SnQueryOptions options_;
  bool match_nothing_ = false;
  std::vector<std::vector<std::vector<Compiled>>> groups_;
  std::vector<SnOrder> order_by_;
  std::vector<std::string> dropped_;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_ENCODED_QUERY_H_
