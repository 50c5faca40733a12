#include "tests/sandbox/encoded_query.h"

#include <algorithm>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/string_view.h"

namespace onsync::sandbox {
namespace {

// Longest first, so that e.g. ISNOTEMPTY wins over a shorter prefix.
struct OperatorSpelling {
  std::string_view spelling;
  std::string_view canonical;
};
constexpr OperatorSpelling kOperators[] = {
    {"EMPTYSTRING", "EMPTYSTRING"},
    {"ISNOTEMPTY", "ISNOTEMPTY"},
    {"STARTSWITH", "STARTSWITH"},
    {"NOT LIKE", "NOT LIKE"},
    {"ENDSWITH", "ENDSWITH"},
    {"ANYTHING", "ANYTHING"},
    {"NSAMEAS", "NSAMEAS"},
    {"ISEMPTY", "ISEMPTY"},
    {"BETWEEN", "BETWEEN"},
    {"NOT IN", "NOT IN"},
    {"SAMEAS", "SAMEAS"},
    {"LIKE", "LIKE"},
    {"!=", "!="},
    {"<=", "<="},
    {">=", ">="},
    {"!*", "NOT LIKE"},
    {"IN", "IN"},
    {"=", "="},
    {"<", "<"},
    {">", ">"},
    {"*", "LIKE"},
    {"%", "ENDSWITH"},
};

bool IsFieldChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

bool TakesNoValue(std::string_view op) {
  return op == "ISEMPTY" || op == "ISNOTEMPTY" || op == "EMPTYSTRING" || op == "ANYTHING";
}

// gs.dateGenerate('2024-01-01','00:00:00') -> "2024-01-01 00:00:00"; other scripts -> nullopt.
std::optional<std::string> EvaluateScript(std::string_view value) {
  absl::string_view script = ToAbsl(value);
  if (!absl::ConsumePrefix(&script, "javascript:")) return std::string(value);
  script = absl::StripAsciiWhitespace(script);
  if (!absl::ConsumePrefix(&script, "gs.dateGenerate(") || !absl::ConsumeSuffix(&script, ")")) {
    return std::nullopt;
  }
  std::vector<std::string> args;
  for (absl::string_view arg : absl::StrSplit(script, ',')) {
    arg = absl::StripAsciiWhitespace(arg);
    if (arg.size() >= 2 && (arg.front() == '\'' || arg.front() == '"') &&
        arg.back() == arg.front()) {
      arg = arg.substr(1, arg.size() - 2);
    }
    args.emplace_back(arg);
  }
  if (args.size() != 2) return std::nullopt;
  return absl::StrCat(args[0], " ", args[1]);
}

}  // namespace

std::vector<std::string> SplitEncodedQuery(std::string_view text) {
  std::vector<std::string> segments;
  std::string current;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '^') {
      current.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '^') {
      current.push_back('^');
      ++i;
      continue;
    }
    segments.push_back(std::move(current));
    current.clear();
  }
  segments.push_back(std::move(current));
  return segments;
}

SnCondition ParseCondition(std::string_view segment) {
  SnCondition condition;
  condition.text = std::string(segment);
  size_t field_end = 0;
  while (field_end < segment.size() && IsFieldChar(segment[field_end])) ++field_end;
  if (field_end == 0) return condition;
  const std::string_view rest = segment.substr(field_end);
  for (const OperatorSpelling& op : kOperators) {
    if (absl::StartsWith(ToAbsl(rest), ToAbsl(op.spelling))) {
      condition.field = std::string(segment.substr(0, field_end));
      condition.op = std::string(op.canonical);
      condition.value =
          TakesNoValue(op.canonical) ? "" : std::string(rest.substr(op.spelling.size()));
      condition.parsed = true;
      return condition;
    }
  }
  return condition;
}

SnEncodedQuery ParseEncodedQuery(std::string_view text) {
  SnEncodedQuery query;
  query.groups.emplace_back();
  for (std::string& segment : SplitEncodedQuery(text)) {
    absl::string_view s = segment;
    if (s.empty() || s == "EQ") continue;
    if (absl::ConsumePrefix(&s, "ORDERBYDESC")) {
      query.order_by.push_back({std::string(s), true});
      continue;
    }
    if (absl::ConsumePrefix(&s, "ORDERBY")) {
      query.order_by.push_back({std::string(s), false});
      continue;
    }
    if (absl::ConsumePrefix(&s, "NQ")) {
      if (!query.groups.back().empty()) query.groups.emplace_back();
      if (s.empty()) continue;
      query.groups.back().push_back({ParseCondition(ToStd(s))});
      continue;
    }
    if (absl::ConsumePrefix(&s, "OR") && !query.groups.back().empty()) {
      query.groups.back().back().push_back(ParseCondition(ToStd(s)));
      continue;
    }
    query.groups.back().push_back({ParseCondition(ToStd(s))});
  }
  return query;
}

SnQueryEvaluator::SnQueryEvaluator(const SnStore& store, const SnTable& table,
                                   const SnEncodedQuery& query, SnQueryOptions options)
    : store_(store), table_(table), options_(options) {
  for (const auto& group : query.groups) {
    std::vector<std::vector<Compiled>> terms;
    for (const auto& term : group) {
      std::vector<Compiled> alternatives;
      for (const SnCondition& condition : term) {
        std::optional<std::string> value =
            condition.parsed ? EvaluateScript(condition.value) : std::nullopt;
        const bool valid =
            condition.parsed && ValidField(condition.field) && value.has_value() &&
            ((condition.op != "SAMEAS" && condition.op != "NSAMEAS") || ValidField(*value));
        if (!valid) {
          dropped_.push_back(condition.text);
          continue;
        }
        alternatives.push_back({condition, *std::move(value)});
      }
      if (!alternatives.empty()) terms.push_back(std::move(alternatives));
    }
    groups_.push_back(std::move(terms));
  }
  for (const SnOrder& order : query.order_by) {
    if (ValidField(order.field)) {
      order_by_.push_back(order);
    } else {
      dropped_.push_back(absl::StrCat(order.descending ? "ORDERBYDESC" : "ORDERBY", order.field));
    }
  }
  match_nothing_ = options_.invalid_query_returns_no_rows && !dropped_.empty();
}

bool SnQueryEvaluator::ValidField(std::string_view path) const {
  return store_.Resolve(table_, nullptr, path).has_value();
}

bool SnQueryEvaluator::Matches(const SnRow& row) const {
  if (match_nothing_) return false;
  for (const auto& group : groups_) {
    bool group_matches = true;
    for (const auto& term : group) {
      bool term_matches = false;
      for (const Compiled& alternative : term) {
        if (Evaluate(alternative, row)) {
          term_matches = true;
          break;
        }
      }
      if (!term_matches) {
        group_matches = false;
        break;
      }
    }
    if (group_matches) return true;
  }
  return false;
}

bool SnQueryEvaluator::Evaluate(const Compiled& compiled, const SnRow& row) const {
  const SnCondition& condition = compiled.condition;
  const std::optional<SnResolved> resolved = store_.Resolve(table_, &row, condition.field);
  if (!resolved.has_value()) return false;
  const std::string raw = SnStore::RawValue(*resolved);
  const std::string& op = condition.op;
  if (op == "ANYTHING") return true;
  if (op == "ISEMPTY" || op == "EMPTYSTRING") return raw.empty();
  if (op == "ISNOTEMPTY") return !raw.empty();

  auto fold = [this](std::string_view text) {
    return options_.case_sensitive ? std::string(text) : absl::AsciiStrToLower(ToAbsl(text));
  };
  const std::string lhs = fold(raw);
  const std::string rhs = fold(compiled.value);
  if (op == "=") {
    if (lhs == rhs) return true;
    return condition.match_display && fold(store_.DisplayValue(*resolved)) == rhs;
  }
  if (raw.empty()) return false;  // SQL NULL: no other operator matches an empty value
  if (op == "!=") return lhs != rhs;
  if (op == "LIKE") return absl::StrContains(lhs, rhs);
  if (op == "NOT LIKE") return !absl::StrContains(lhs, rhs);
  if (op == "STARTSWITH") return absl::StartsWith(lhs, rhs);
  if (op == "ENDSWITH") return absl::EndsWith(lhs, rhs);
  if (op == "IN" || op == "NOT IN") {
    bool found = false;
    for (absl::string_view item : absl::StrSplit(rhs, ',')) found = found || item == lhs;
    return op == "IN" ? found : !found;
  }
  if (op == "SAMEAS" || op == "NSAMEAS") {
    const std::optional<SnResolved> other = store_.Resolve(table_, &row, compiled.value);
    const bool same = other.has_value() && fold(SnStore::RawValue(*other)) == lhs;
    return op == "SAMEAS" ? same : !same;
  }
  // Ordering comparisons: numeric for integer columns, lexical otherwise.
  auto compare = [&](std::string_view a, std::string_view b) -> int {
    double x = 0;
    double y = 0;
    if (resolved->field->type == SnFieldType::kInteger && absl::SimpleAtod(ToAbsl(a), &x) &&
        absl::SimpleAtod(ToAbsl(b), &y)) {
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.compare(b) < 0 ? -1 : (a.compare(b) > 0 ? 1 : 0);
  };
  if (op == "<") return compare(raw, compiled.value) < 0;
  if (op == "<=") return compare(raw, compiled.value) <= 0;
  if (op == ">") return compare(raw, compiled.value) > 0;
  if (op == ">=") return compare(raw, compiled.value) >= 0;
  if (op == "BETWEEN") {
    const size_t at = compiled.value.find('@');
    if (at == std::string::npos) return false;
    return compare(raw, std::string_view(compiled.value).substr(0, at)) >= 0 &&
           compare(raw, std::string_view(compiled.value).substr(at + 1)) <= 0;
  }
  return false;
}

void SnQueryEvaluator::Sort(std::vector<const SnRow*>& rows) const {
  if (order_by_.empty()) return;
  auto key = [this](const SnRow* row, const SnOrder& order) {
    const std::optional<SnResolved> resolved = store_.Resolve(table_, row, order.field);
    if (!resolved.has_value()) return std::string();
    return resolved->field->type == SnFieldType::kReference ? store_.DisplayValue(*resolved)
                                                            : SnStore::RawValue(*resolved);
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const SnRow* a, const SnRow* b) {
    for (const SnOrder& order : order_by_) {
      const std::string x = key(a, order);
      const std::string y = key(b, order);
      const std::optional<SnResolved> resolved = store_.Resolve(table_, nullptr, order.field);
      int cmp = 0;
      double dx = 0;
      double dy = 0;
      if (resolved->field->type == SnFieldType::kInteger && absl::SimpleAtod(x, &dx) &&
          absl::SimpleAtod(y, &dy)) {
        cmp = dx < dy ? -1 : (dx > dy ? 1 : 0);
      } else {
        cmp = x.compare(y);
      }
      if (cmp != 0) return order.descending ? cmp > 0 : cmp < 0;
    }
    return false;
  });
}

}  // namespace onsync::sandbox
