#include "clients/onspring/filter.h"

#include <charconv>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace onsync::clients::onspring {

Literal Literal::String(std::string_view text) {
  Literal out;
  if (text.find('\0') != std::string_view::npos) {
    out.status_ = absl::InvalidArgumentError("an Onspring filter value must not contain NUL");
    return out;
  }
  out.text_.reserve(text.size() + 2);
  out.text_.push_back('\'');
  for (char c : text) {
    if (c == '\'') out.text_.push_back('\'');
    out.text_.push_back(c);
  }
  out.text_.push_back('\'');
  return out;
}

Literal Literal::Integer(int64_t value) {
  Literal out;
  out.text_ = absl::StrCat(value);
  return out;
}

Literal Literal::Decimal(double value) {
  Literal out;
  if (!std::isfinite(value)) {
    out.status_ = absl::InvalidArgumentError("an Onspring filter number must be finite");
    return out;
  }
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.text_.assign(buffer, r.ptr);
  return out;
}

Literal Literal::DateTime(absl::Time time) {
  Literal out;
  if (time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    out.status_ = absl::InvalidArgumentError("an Onspring filter date must be finite");
    return out;
  }
  out.text_ = absl::StrCat(
      "datetime'", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()), "'");
  return out;
}

Filter Filter::Compare(int64_t field_id, std::string_view op, const Literal* value) {
  if (field_id <= 0) {
    return Filter("", absl::InvalidArgumentError(
                          absl::StrCat("invalid Onspring field id ", field_id, " in a filter")));
  }
  if (value != nullptr && !value->status().ok()) {
    return Filter("", absl::InvalidArgumentError(
                          absl::StrCat("field ", field_id, ": ", value->status().message())));
  }
  std::string text = absl::StrCat(field_id, " ", std::string(op));
  if (value != nullptr) absl::StrAppend(&text, " ", value->text());
  return Filter(std::move(text), absl::OkStatus());
}

Filter Filter::Eq(int64_t field_id, const Literal& value) {
  return Compare(field_id, "eq", &value);
}
Filter Filter::Ne(int64_t field_id, const Literal& value) {
  return Compare(field_id, "ne", &value);
}
Filter Filter::Gt(int64_t field_id, const Literal& value) {
  return Compare(field_id, "gt", &value);
}
Filter Filter::Lt(int64_t field_id, const Literal& value) {
  return Compare(field_id, "lt", &value);
}
Filter Filter::Contains(int64_t field_id, const Literal& value) {
  return Compare(field_id, "contains", &value);
}
Filter Filter::IsNull(int64_t field_id) { return Compare(field_id, "isnull", nullptr); }
Filter Filter::NotNull(int64_t field_id) { return Compare(field_id, "notnull", nullptr); }

Filter Filter::Join(bool is_and, std::vector<Filter> operands) {
  if (operands.empty()) {
    return Filter(
        "", absl::InvalidArgumentError(absl::StrCat("an Onspring filter '", is_and ? "and" : "or",
                                                    "' needs at least one operand")));
  }
  for (const Filter& f : operands) {
    if (!f.status_.ok()) return Filter("", f.status_);
  }
  if (operands.size() == 1) return std::move(operands.front());
  std::vector<std::string> parts;
  parts.reserve(operands.size());
  // `or` binds looser than `and`; an Or operand is parenthesized by construction.
  for (Filter& f : operands) parts.push_back(std::move(f.text_));
  std::string text = absl::StrJoin(parts, is_and ? " and " : " or ");
  if (is_and) return Filter(std::move(text), absl::OkStatus());
  return Filter(absl::StrCat("(", text, ")"), absl::OkStatus(), /*grouped=*/true);
}

Filter Filter::And(std::vector<Filter> operands) { return Join(true, std::move(operands)); }
Filter Filter::Or(std::vector<Filter> operands) { return Join(false, std::move(operands)); }

Filter Filter::Not(Filter operand) {
  if (!operand.status_.ok()) return Filter("", operand.status_);
  if (operand.grouped_) return Filter(absl::StrCat("not ", operand.text_), absl::OkStatus());
  return Filter(absl::StrCat("not (", operand.text_, ")"), absl::OkStatus());
}

absl::StatusOr<std::string> Filter::Build() const {
  if (!status_.ok()) return status_;
  return text_;
}

absl::StatusOr<std::string> AnyOf(int64_t field_id, const std::vector<std::string>& values) {
  if (values.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AnyOf on Onspring field ", field_id, " needs at least one value"));
  }
  std::vector<Filter> terms;
  std::set<std::string_view> seen;
  for (const std::string& value : values) {
    if (!seen.insert(value).second) continue;
    terms.push_back(Filter::Eq(field_id, Literal::String(value)));
  }
  return Filter::Or(std::move(terms)).Build();
}

}  // namespace onsync::clients::onspring
