// A builder for the `filter` text of Onspring's `POST /Records/Query` (onspring-api.md §5), so that
// no value is ever spliced into a filter by hand.
//
// Grammar produced:
//   comparison := FIELDID ("eq"|"ne"|"gt"|"lt"|"contains") literal | FIELDID ("isnull"|"notnull")
//   literal    := 'text' (every ' doubled: OData's rule, Onspring's is undocumented)
//               | number (integer, or a finite decimal in shortest round-trip form)
//               | datetime'YYYY-MM-DDTHH:MM:SS.fffZ' (UTC)
//   Or(...)    := "(" a " or " b … ")"          always parenthesized
//   And(...)   := a " and " b …                  (an Or operand is parenthesized already)
//   Not(x)     := "not (" x ")", or "not " x when x is an Or (parenthesized already)
// A one-operand And/Or is its operand. Field ids must be positive; text literals must not contain
// NUL. Errors are sticky: a Filter built from an invalid part carries its INVALID_ARGUMENT, and
// Build() returns it.
//
// Onspring's quote escaping is unverified; callers re-check the records that come back.
//
// Thread safety: a Filter is an immutable value; the functions are pure.
#ifndef ONSYNC_CLIENTS_ONSPRING_FILTER_H_
#define ONSYNC_CLIENTS_ONSPRING_FILTER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::clients::onspring {

// One literal of a comparison.
class Literal {
 public:
  static Literal String(std::string_view text);
  static Literal Integer(int64_t value);
  // INVALID_ARGUMENT (at Build) for NaN and infinities.
  static Literal Decimal(double value);
  static Literal DateTime(absl::Time time);

  // The literal's filter text, e.g. `'O''Brien'`, `42`, `datetime'2024-01-02T03:04:05.000Z'`.
  const std::string& text() const { return text_; }
  const absl::Status& status() const { return status_; }

 private:
  Literal() = default;
  std::string text_;
  absl::Status status_;
  // The text is one parenthesized group (an Or).
  bool grouped_ = false;
};

class Filter {
 public:
  static Filter Eq(int64_t field_id, const Literal& value);
  static Filter Ne(int64_t field_id, const Literal& value);
  static Filter Gt(int64_t field_id, const Literal& value);
  static Filter Lt(int64_t field_id, const Literal& value);
  // A list field holds the list value given by GUID or name.
  static Filter Contains(int64_t field_id, const Literal& value);
  static Filter IsNull(int64_t field_id);
  static Filter NotNull(int64_t field_id);
  // INVALID_ARGUMENT when `operands` is empty.
  static Filter And(std::vector<Filter> operands);
  static Filter Or(std::vector<Filter> operands);
  static Filter Not(Filter operand);

  // The filter text, or the first error of any part.
  absl::StatusOr<std::string> Build() const;

 private:
  Filter(std::string text, absl::Status status, bool grouped = false)
      : text_(std::move(text)), status_(std::move(status)), grouped_(grouped) {}
  // `value` null for the unary isnull/notnull.
  static Filter Compare(int64_t field_id, std::string_view op, const Literal* value);
  static Filter Join(bool is_and, std::vector<Filter> operands);

  std::string text_;
  absl::Status status_;
  // The text is one parenthesized group (an Or).
  bool grouped_ = false;
};

// `(f eq 'a' or f eq 'b' …)` for a batched lookup of text values: duplicates removed (first
// occurrence kept, order preserved); one distinct value gives `f eq 'a'`. INVALID_ARGUMENT when
// `values` is empty or a value contains NUL.
absl::StatusOr<std::string> AnyOf(int64_t field_id, const std::vector<std::string>& values);

}  // namespace onsync::clients::onspring

#endif  // ONSYNC_CLIENTS_ONSPRING_FILTER_H_
