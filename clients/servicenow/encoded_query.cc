#include "clients/servicenow/encoded_query.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/string_view.h"

namespace onsync::clients::servicenow {
namespace {

bool IsFieldChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool StartsWithJavascript(std::string_view value) {
  size_t i = 0;
  // Leading whitespace, as a servlet or the query parser might trim it.
  while (i < value.size() && (value[i] == ' ' || value[i] == '\t' || value[i] == '\v' ||
                              value[i] == '\f' || value[i] == '\r' || value[i] == '\n')) {
    ++i;
  }
  constexpr std::string_view kPrefix = "javascript:";
  if (value.size() - i < kPrefix.size()) return false;
  for (size_t k = 0; k < kPrefix.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(value[i + k])) != kPrefix[k]) return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateFieldName(std::string_view field) {
  bool segment_empty = true;
  for (char c : field) {
    if (c == '.') {
      if (segment_empty) break;
      segment_empty = true;
    } else if (IsFieldChar(c)) {
      segment_empty = false;
    } else {
      segment_empty = true;  // force the error below
      break;
    }
  }
  if (field.empty() || segment_empty) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ServiceNow field name \"", ToAbsl(field.substr(0, 64)),
                     "\": expected [A-Za-z0-9_] names joined by '.'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EscapeQueryValue(std::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError("empty value in a ServiceNow query condition");
  }
  if (value.find_first_of(std::string_view("\n\r\0", 3)) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "a ServiceNow query value must not contain a newline, carriage return or NUL");
  }
  if (StartsWithJavascript(value)) {
    return absl::InvalidArgumentError(
        "a ServiceNow query value must not start with \"javascript:\" (it would run as "
        "server-side script)");
  }
  std::string out;
  out.reserve(value.size() + 4);
  for (char c : value) {
    if (c == '^') out.push_back('^');
    out.push_back(c);
  }
  return out;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

EncodedQuery& EncodedQuery::AddCondition(std::string_view field, std::string_view op,
                                         std::string_view value) {
  if (!status_.ok()) return *this;
  if (absl::Status s = ValidateFieldName(field); !s.ok()) {
    status_ = std::move(s);
    return *this;
  }
  absl::StatusOr<std::string> escaped = EscapeQueryValue(value);
  if (!escaped.ok()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("field ", ToAbsl(field), ": ", escaped.status().message()));
    return *this;
  }
  groups_.back().push_back(Clause{Condition{std::string(field), std::string(op), *escaped}});
  return *this;
}

EncodedQuery& EncodedQuery::Equals(std::string_view field, std::string_view value) {
  return AddCondition(field, "=", value);
}

EncodedQuery& EncodedQuery::GreaterThan(std::string_view field, std::string_view value) {
  // `field>` followed by `=` reads as `field>=`: the value would change the operator.
  if (status_.ok() && !value.empty() && value.front() == '=') {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("field ", ToAbsl(field), ": a value compared with > must not start with '='"));
    return *this;
  }
  return AddCondition(field, ">", value);
}

EncodedQuery& EncodedQuery::GreaterOrEquals(std::string_view field, std::string_view value) {
  return AddCondition(field, ">=", value);
}

EncodedQuery& EncodedQuery::In(std::string_view field, const std::vector<std::string>& values) {
  if (!status_.ok()) return *this;
  if (absl::Status s = ValidateFieldName(field); !s.ok()) {
    status_ = std::move(s);
    return *this;
  }
  if (values.empty()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("field ", ToAbsl(field), ": In() needs at least one value"));
    return *this;
  }
  Clause clause;
  std::set<std::string_view> seen;
  for (const std::string& value : values) {
    if (!seen.insert(value).second) continue;
    absl::StatusOr<std::string> escaped = EscapeQueryValue(value);
    if (!escaped.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("field ", ToAbsl(field), ": ", escaped.status().message()));
      return *this;
    }
    clause.push_back(Condition{std::string(field), "=", *std::move(escaped)});
  }
  groups_.back().push_back(std::move(clause));
  return *this;
}

EncodedQuery& EncodedQuery::NewGroup() {
  if (status_.ok()) groups_.emplace_back();
  return *this;
}

EncodedQuery& EncodedQuery::OrderBy(std::string_view field, bool descending) {
  if (!status_.ok()) return *this;
  if (absl::Status s = ValidateFieldName(field); !s.ok()) {
    status_ = std::move(s);
    return *this;
  }
  order_by_.push_back(absl::StrCat(descending ? "ORDERBYDESC" : "ORDERBY", ToAbsl(field)));
  return *this;
}

void EncodedQuery::AppendGroup(const Group& group, std::string& out) {
  bool first_clause = true;
  for (const Clause& clause : group) {
    bool first_condition = true;
    for (const Condition& c : clause) {
      if (!first_condition) {
        out += "^OR";
      } else if (!first_clause) {
        out += "^";
      }
      absl::StrAppend(&out, c.field, c.op, c.escaped_value);
      first_condition = false;
    }
    first_clause = false;
  }
}

absl::StatusOr<std::string> EncodedQuery::Build() const {
  if (!status_.ok()) return status_;
  std::string out;
  const bool no_conditions = groups_.size() == 1 && groups_.front().empty();
  if (!no_conditions) {
    for (size_t i = 0; i < groups_.size(); ++i) {
      if (groups_[i].empty()) {
        return absl::InvalidArgumentError(
            "empty group in a ServiceNow query (NewGroup without conditions)");
      }
      if (i > 0) out += "^NQ";
      AppendGroup(groups_[i], out);
    }
  }
  for (const std::string& order : order_by_) {
    if (!out.empty()) out += "^";
    out += order;
  }
  return out;
}

absl::StatusOr<std::string> EncodedQuery::AfterCursor(const EncodedQuery& filter,
                                                      std::string_view updated_on,
                                                      std::string_view sys_id) {
  if (!filter.status_.ok()) return filter.status_;
  if (filter.groups_.size() != 1 || !filter.order_by_.empty()) {
    return absl::InvalidArgumentError(
        "a cursor filter must be plain conditions (no NewGroup, no OrderBy)");
  }
  if (updated_on.empty() && !sys_id.empty()) {
    return absl::InvalidArgumentError("a cursor with a sys_id needs its sys_updated_on");
  }
  EncodedQuery q;
  q.groups_ = filter.groups_;
  if (!updated_on.empty() && sys_id.empty()) {
    q.GreaterOrEquals("sys_updated_on", updated_on);
  } else if (!updated_on.empty()) {
    q.GreaterThan("sys_updated_on", updated_on);
    q.groups_.push_back(filter.groups_.front());
    q.Equals("sys_updated_on", updated_on).GreaterThan("sys_id", sys_id);
  }
  q.OrderBy("sys_updated_on").OrderBy("sys_id");
  return q.Build();
}

}  // namespace onsync::clients::servicenow
