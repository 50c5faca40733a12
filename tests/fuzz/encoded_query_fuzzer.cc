// Fuzzes the ServiceNow encoded-query builder (clients/servicenow/encoded_query.h) by round trip:
// a program of builder calls (Equals, In, GreaterThan, GreaterOrEquals, NewGroup, OrderBy, then
// Build or AfterCursor) with fuzzed values is run against the builder and against a model of the
// query it must mean; the built text is parsed back with the sandbox's parser
// (tests/sandbox/encoded_query.h, the fake ServiceNow's grammar) and compared with the model.
// UrlEncode is checked by decoding with the sandbox's PercentDecode.
//
// Invariants: Build fails exactly when the model says a call was invalid (empty value, newline,
// CR or NUL, a leading `javascript:`, In without values, an empty group, AfterCursor misuse);
// otherwise the parsed query has exactly the model's groups, terms and conditions, each with the
// field, operator and value byte for byte (a value can never add, widen or change terms, nor
// change an operator: GreaterThan refuses a value starting with '='), and the
// model's ORDERBY terms; UrlEncode output holds only unreserved characters and %XX, and decodes
// to its input.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "clients/servicenow/encoded_query.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/sandbox/encoded_query.h"
#include "tests/sandbox/url.h"

namespace {

using onsync::clients::servicenow::EncodedQuery;
using onsync::fuzz::Check;

struct Condition {
  std::string field;
  std::string op;
  std::string value;
};
using Clause = std::vector<Condition>;
using Group = std::vector<Clause>;

// What a builder's calls mean.
struct Model {
  bool ok = true;
  std::vector<Group> groups = {Group{}};
  std::vector<std::pair<std::string, bool>> order_by;
};

constexpr const char* kFields[] = {"name",           "sys_id", "sys_updated_on",
                                   "u_l3_name.name", "number", "it_application_owner.user_name"};

// The builder's documented value rules, restated.
bool ValidValue(std::string_view value) {
  if (value.empty() || value.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos) {
    return false;
  }
  const size_t start = value.find_first_not_of(" \t\v\f\r\n");
  if (start == std::string_view::npos) return true;
  const std::string head(value.substr(start, 11));
  return absl::AsciiStrToLower(head) != "javascript:";
}

void AddCondition(Model& model, std::string field, std::string op, std::string value) {
  if (!model.ok) return;
  if (!ValidValue(value)) {
    model.ok = false;
    return;
  }
  model.groups.back().push_back(Clause{{std::move(field), std::move(op), std::move(value)}});
}

// Whether Build succeeds on the model's state.
bool Buildable(const Model& model) {
  if (!model.ok) return false;
  if (model.groups.size() == 1 && model.groups.front().empty()) return true;
  for (const Group& group : model.groups) {
    if (group.empty()) return false;
  }
  return true;
}

void CheckParsed(const Model& model, const std::string& text) {
  const onsync::sandbox::SnEncodedQuery parsed = onsync::sandbox::ParseEncodedQuery(text);
  Check(parsed.groups.size() == model.groups.size(), "the number of ^NQ groups", text);
  for (size_t g = 0; g < model.groups.size(); ++g) {
    Check(parsed.groups[g].size() == model.groups[g].size(), "the number of terms", text);
    for (size_t t = 0; t < model.groups[g].size(); ++t) {
      Check(parsed.groups[g][t].size() == model.groups[g][t].size(),
            "the number of ^OR alternatives", text);
      for (size_t a = 0; a < model.groups[g][t].size(); ++a) {
        const onsync::sandbox::SnCondition& got = parsed.groups[g][t][a];
        const Condition& want = model.groups[g][t][a];
        Check(got.parsed, "every condition parses", text);
        Check(got.field == want.field, "the condition's field", text);
        Check(got.op == want.op, "the condition's operator", text);
        Check(got.value == want.value, "the condition's value, byte for byte", text);
      }
    }
  }
  Check(parsed.order_by.size() == model.order_by.size(), "the number of ORDERBY terms", text);
  for (size_t i = 0; i < model.order_by.size(); ++i) {
    Check(parsed.order_by[i].field == model.order_by[i].first, "the ORDERBY field", text);
    Check(parsed.order_by[i].descending == model.order_by[i].second, "the ORDERBY direction", text);
  }
}

void CheckUrlEncode(const std::string& text) {
  const std::string encoded = onsync::clients::servicenow::UrlEncode(text);
  for (size_t i = 0; i < encoded.size(); ++i) {
    const char c = encoded[i];
    if (c == '%') {
      Check(i + 2 < encoded.size() && absl::ascii_isxdigit(encoded[i + 1]) &&
                absl::ascii_isxdigit(encoded[i + 2]),
            "UrlEncode writes %XX", encoded);
      continue;
    }
    Check(absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~',
          "UrlEncode leaves only unreserved characters", encoded);
  }
  Check(onsync::sandbox::PercentDecode(encoded, /*plus_is_space=*/false) == text,
        "UrlEncode decodes to its input", encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  EncodedQuery query;
  Model model;
  std::vector<std::string> values_seen;

  const int calls = provider.ConsumeIntegralInRange(1, 8);
  for (int i = 0; i < calls && provider.remaining_bytes() > 0; ++i) {
    const int call = provider.ConsumeIntegralInRange(0, 5);
    const std::string field = provider.PickValueInArray(kFields);
    switch (call) {
      case 0:
      case 2:
      case 3: {
        const std::string value = provider.ConsumeRandomLengthString(64);
        const char* op = call == 0 ? "=" : (call == 2 ? ">" : ">=");
        if (call == 0) query.Equals(field, value);
        if (call == 2) query.GreaterThan(field, value);
        if (call == 3) query.GreaterOrEquals(field, value);
        // `field>=x` would mean `>=`: GreaterThan refuses a leading '='.
        if (call == 2 && !value.empty() && value.front() == '=') model.ok = false;
        AddCondition(model, field, op, value);
        values_seen.push_back(value);
        break;
      }
      case 1: {
        std::vector<std::string> values(provider.ConsumeIntegralInRange(0, 3));
        for (std::string& value : values) {
          value = provider.ConsumeRandomLengthString(32);
          values_seen.push_back(value);
        }
        query.In(field, values);
        if (!model.ok) break;
        Clause clause;
        for (const std::string& value : values) {
          bool duplicate = false;
          for (const Condition& c : clause) duplicate = duplicate || c.value == value;
          if (duplicate) continue;
          if (!ValidValue(value)) model.ok = false;
          clause.push_back({field, "=", value});
        }
        if (values.empty()) model.ok = false;
        if (model.ok) model.groups.back().push_back(std::move(clause));
        break;
      }
      case 4:
        query.NewGroup();
        if (model.ok) model.groups.emplace_back();
        break;
      case 5: {
        const bool descending = provider.ConsumeBool();
        query.OrderBy(field, descending);
        if (model.ok) model.order_by.emplace_back(field, descending);
        break;
      }
    }
  }

  absl::StatusOr<std::string> text;
  if (provider.ConsumeBool()) {
    text = query.Build();
  } else {
    // The batch runner's cursor query over `query` as the filter.
    const std::string updated_on = provider.ConsumeRandomLengthString(24);
    const std::string sys_id = provider.ConsumeRandomLengthString(40);
    values_seen.push_back(updated_on);
    values_seen.push_back(sys_id);
    text = EncodedQuery::AfterCursor(query, updated_on, sys_id);
    Model cursor;
    cursor.ok = model.ok && model.groups.size() == 1 && model.order_by.empty() &&
                !(updated_on.empty() && !sys_id.empty());
    cursor.groups = model.groups;
    if (cursor.ok && !updated_on.empty() && sys_id.empty()) {
      AddCondition(cursor, "sys_updated_on", ">=", updated_on);
    } else if (cursor.ok && !updated_on.empty()) {
      if (updated_on.front() == '=') cursor.ok = false;
      AddCondition(cursor, "sys_updated_on", ">", updated_on);
      cursor.groups.push_back(model.groups.front());
      AddCondition(cursor, "sys_updated_on", "=", updated_on);
      if (sys_id.front() == '=') cursor.ok = false;
      AddCondition(cursor, "sys_id", ">", sys_id);
    }
    cursor.order_by = {{"sys_updated_on", false}, {"sys_id", false}};
    model = std::move(cursor);
  }

  Check(text.ok() == Buildable(model), "Build fails exactly for invalid calls",
        text.ok() ? *text : std::string(text.status().message()));
  if (text.ok()) {
    CheckParsed(model, *text);
    CheckUrlEncode(*text);
  }
  for (const std::string& value : values_seen) CheckUrlEncode(value);
  return 0;
}
