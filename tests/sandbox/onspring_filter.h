// Onspring's `POST /Records/Query` filter language (onspring-api.md §5): parsing and evaluation
// against records of the fake.
//
//   filter    := orExpr            (empty or blank = every record)
//   orExpr    := andExpr ("or" andExpr)*
//   andExpr   := unary ("and" unary)*
//   unary     := "not" unary | "(" orExpr ")" | predicate
//   predicate := FIELDID ("isnull" | "notnull")
//              | FIELDID ("eq" | "ne" | "gt" | "lt" | "contains") literal
//   literal   := NUMBER | '...' (a doubled '' is one quote) | datetime'ISO-8601'
// Keywords are matched case-insensitively (the wire uses lower case). Field ids must belong to
// the queried app. Semantics:
//   - Text and Formula: eq/ne compare text (ASCII case-insensitive unless `case_sensitive`);
//     gt/lt compare lexically; contains is a substring test (undocumented for text; lenient).
//   - Number and AutoNumber: numeric comparison (a quoted number is accepted).
//   - Date: chronological (datetime'...' or a quoted date).
//   - List: contains/eq match a selected value by GUID or by name (case-insensitive); ne is the
//     negation. gt/lt are rejected.
//   - Reference: contains/eq match a referenced record id (undocumented; unquoted ids as the
//     community MCP server sends them); ne is the negation. gt/lt are rejected.
//   - isnull/notnull test emptiness; ne matches empty values; eq, gt, lt, contains do not.
// A syntax error (unterminated literal, unknown operator, dangling "and"), an unknown field id
// or an operator the field's type does not support is an INVALID_ARGUMENT (the fake answers
// 400).
//
// Thread safety: a parsed filter is immutable; evaluation is const.
#ifndef ONSYNC_TESTS_SANDBOX_ONSPRING_FILTER_H_
#define ONSYNC_TESTS_SANDBOX_ONSPRING_FILTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/sandbox/onspring_store.h"

namespace onsync::sandbox {

struct OsFilterLiteral {
  enum class Kind { kNone, kNumber, kString, kDateTime } kind = Kind::kNone;
  double number = 0;
  std::string text;  // the string (unescaped), datetime text, or the number as written
};

struct OsFilterNode {
  enum class Kind { kAnd, kOr, kNot, kPredicate } kind = Kind::kPredicate;
  std::vector<std::unique_ptr<OsFilterNode>> children;
  int64_t field_id = 0;
  std::string op;  // lower case
  OsFilterLiteral literal;
};

class OsFilter {
 public:
  // Parses `text` and checks it against `app`. nullptr root = match everything.
  static absl::StatusOr<OsFilter> Parse(std::string_view text, const OsStore& store,
                                        const OsApp& app);

  bool Matches(const OsStore& store, const OsRecord& record, bool case_sensitive) const;

 private:
  std::unique_ptr<OsFilterNode> root_;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_ONSPRING_FILTER_H_
