// Fuzzes the Onspring filter builder (clients/onspring/filter.h) by round trip: a random filter
// tree (eq/ne/gt/lt/contains/isnull/notnull over Text and Number fields, And/Or/Not, text values
// from the fuzz input) is built to text, parsed back with the sandbox's parser of Onspring's
// filter language (tests/sandbox/onspring_filter.h) and evaluated against records whose values
// also come from the fuzz input; the result must equal a direct evaluation of the tree. AnyOf and
// Literal::Decimal are checked the same way.
//
// Invariants: Build fails exactly for invalid parts (field id <= 0, NUL in a text, an empty
// And/Or, a non-finite decimal); otherwise the text always parses (no unbalanced quote, no
// precedence slip) and means exactly the tree: a text value can never add terms or change the
// structure; AnyOf matches exactly the records holding one of its values; a finite decimal's text
// reads back as the same double.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/onspring/filter.h"
#include "rapidjson/document.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/sandbox/onspring_filter.h"
#include "tests/sandbox/onspring_store.h"

namespace {

using onsync::clients::onspring::Filter;
using onsync::clients::onspring::Literal;
using onsync::fuzz::Check;
using onsync::sandbox::OsFilter;
using onsync::sandbox::OsRecord;
using onsync::sandbox::OsStore;

constexpr int64_t kApp = 300;
constexpr int64_t kName = 3001;         // Text
constexpr int64_t kDescription = 3002;  // Text
constexpr int64_t kCost = 3003;         // Number

const OsStore& Store() {
  static const OsStore* const store = [] {
    rapidjson::Document seed;
    seed.Parse(R"({"apps": [{"id": 300, "name": "Business Applications", "fields": [
        {"id": 3001, "name": "Name", "type": "Text"},
        {"id": 3002, "name": "Description", "type": "Text"},
        {"id": 3003, "name": "Cost", "type": "Number"}]}]})");
    absl::StatusOr<OsStore> parsed = OsStore::FromSeed(seed);
    Check(parsed.ok(), "the sandbox store loads");
    return new OsStore(*std::move(parsed));
  }();
  return *store;
}

struct Node {
  enum class Kind { kCompare, kNullTest, kAnd, kOr, kNot } kind = Kind::kCompare;
  int64_t field = kName;
  std::string op;
  std::string text;    // Text fields
  int64_t number = 0;  // Number field
  std::vector<Node> children;
};

bool IsText(int64_t field) { return field == kName || field == kDescription; }

Node Generate(FuzzedDataProvider& provider, int depth, bool& valid) {
  Node node;
  const int kind = provider.ConsumeIntegralInRange(0, depth > 0 ? 4 : 1);
  node.kind = static_cast<Node::Kind>(kind);
  switch (node.kind) {
    case Node::Kind::kCompare:
    case Node::Kind::kNullTest: {
      static constexpr int64_t kFields[] = {kName, kDescription, kCost, kName, 0, -7};
      node.field = provider.PickValueInArray(kFields);
      if (node.field <= 0) valid = false;
      if (node.kind == Node::Kind::kNullTest) {
        node.op = provider.ConsumeBool() ? "isnull" : "notnull";
      } else if (IsText(node.field) || node.field <= 0) {
        static constexpr const char* kOps[] = {"eq", "ne", "gt", "lt", "contains"};
        node.op = provider.PickValueInArray(kOps);
        node.text = provider.ConsumeRandomLengthString(24);
        if (node.text.find('\0') != std::string::npos) valid = false;
      } else {
        static constexpr const char* kOps[] = {"eq", "ne", "gt", "lt"};
        node.op = provider.PickValueInArray(kOps);
        node.number = provider.ConsumeIntegral<int64_t>();
      }
      break;
    }
    case Node::Kind::kAnd:
    case Node::Kind::kOr: {
      const int count = provider.ConsumeIntegralInRange(0, 3);
      if (count == 0) valid = false;
      for (int i = 0; i < count; ++i) node.children.push_back(Generate(provider, depth - 1, valid));
      break;
    }
    case Node::Kind::kNot:
      node.children.push_back(Generate(provider, depth - 1, valid));
      break;
  }
  return node;
}

Filter Build(const Node& node) {
  switch (node.kind) {
    case Node::Kind::kCompare: {
      const Literal literal = IsText(node.field) || node.field <= 0 ? Literal::String(node.text)
                                                                    : Literal::Integer(node.number);
      if (node.op == "eq") return Filter::Eq(node.field, literal);
      if (node.op == "ne") return Filter::Ne(node.field, literal);
      if (node.op == "gt") return Filter::Gt(node.field, literal);
      if (node.op == "lt") return Filter::Lt(node.field, literal);
      return Filter::Contains(node.field, literal);
    }
    case Node::Kind::kNullTest:
      return node.op == "isnull" ? Filter::IsNull(node.field) : Filter::NotNull(node.field);
    case Node::Kind::kAnd:
    case Node::Kind::kOr: {
      std::vector<Filter> operands;
      for (const Node& child : node.children) operands.push_back(Build(child));
      return node.kind == Node::Kind::kAnd ? Filter::And(std::move(operands))
                                           : Filter::Or(std::move(operands));
    }
    case Node::Kind::kNot:
      return Filter::Not(Build(node.children.front()));
  }
  return Filter::IsNull(0);
}

// Onspring's semantics as onspring-api.md §5 states them (case-sensitive text comparison).
bool Evaluate(const Node& node, const OsRecord& record) {
  switch (node.kind) {
    case Node::Kind::kCompare:
    case Node::Kind::kNullTest: {
      const auto it = record.values.find(node.field);
      const bool empty = it == record.values.end();
      if (node.op == "isnull") return empty;
      if (node.op == "notnull") return !empty;
      if (empty) return node.op == "ne";
      int cmp = 0;
      if (IsText(node.field)) {
        const std::string& value = std::get<std::string>(it->second);
        if (node.op == "contains") return value.find(node.text) != std::string::npos;
        cmp = value.compare(node.text);
      } else {
        const double value = std::get<double>(it->second);
        const double literal = static_cast<double>(node.number);
        cmp = value < literal ? -1 : (value > literal ? 1 : 0);
      }
      if (node.op == "eq") return cmp == 0;
      if (node.op == "ne") return cmp != 0;
      if (node.op == "gt") return cmp > 0;
      return cmp < 0;
    }
    case Node::Kind::kAnd:
      for (const Node& child : node.children) {
        if (!Evaluate(child, record)) return false;
      }
      return true;
    case Node::Kind::kOr:
      for (const Node& child : node.children) {
        if (Evaluate(child, record)) return true;
      }
      return false;
    case Node::Kind::kNot:
      return !Evaluate(node.children.front(), record);
  }
  return false;
}

OsRecord MakeRecord(FuzzedDataProvider& provider, int64_t id) {
  OsRecord record;
  record.id = id;
  for (int64_t field : {kName, kDescription}) {
    std::string value = provider.ConsumeRandomLengthString(24);
    if (!value.empty()) record.values[field] = std::move(value);  // empty values are not stored
  }
  if (provider.ConsumeBool()) {
    record.values[kCost] = static_cast<double>(provider.ConsumeIntegral<int32_t>());
  }
  return record;
}

const onsync::sandbox::OsApp& App() { return *Store().FindApp(kApp); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  std::vector<OsRecord> records;
  for (int64_t id = 1; id <= 3; ++id) records.push_back(MakeRecord(provider, id));

  // A filter tree.
  bool valid = true;
  const Node tree = Generate(provider, 3, valid);
  const absl::StatusOr<std::string> text = Build(tree).Build();
  Check(text.ok() == valid, "Build fails exactly for invalid parts",
        text.ok() ? *text : std::string(text.status().message()));
  if (text.ok()) {
    absl::StatusOr<OsFilter> parsed = OsFilter::Parse(*text, Store(), App());
    Check(parsed.ok(), "the built filter parses",
          absl::StrCat(*text, " -> ", parsed.status().ToString()));
    for (const OsRecord& record : records) {
      Check(parsed->Matches(Store(), record, /*case_sensitive=*/true) == Evaluate(tree, record),
            "the built filter means the tree", *text);
    }
  }

  // AnyOf: a batched lookup of text values.
  std::vector<std::string> values(provider.ConsumeIntegralInRange(0, 4));
  bool any_valid = !values.empty();
  for (std::string& value : values) {
    // Often a value a record holds, so that matches happen.
    const auto held = records[0].values.find(kName);
    value = provider.ConsumeBool() && held != records[0].values.end()
                ? std::get<std::string>(held->second)
                : provider.ConsumeRandomLengthString(16);
    if (value.find('\0') != std::string::npos) any_valid = false;
  }
  const absl::StatusOr<std::string> any = onsync::clients::onspring::AnyOf(kName, values);
  Check(any.ok() == any_valid, "AnyOf fails exactly for no values or a NUL",
        any.ok() ? *any : std::string(any.status().message()));
  if (any.ok()) {
    absl::StatusOr<OsFilter> parsed = OsFilter::Parse(*any, Store(), App());
    Check(parsed.ok(), "the AnyOf filter parses", *any);
    for (const OsRecord& record : records) {
      const auto it = record.values.find(kName);
      bool expected = false;
      for (const std::string& value : values) {
        expected =
            expected || (it != record.values.end() && std::get<std::string>(it->second) == value);
      }
      Check(parsed->Matches(Store(), record, /*case_sensitive=*/true) == expected,
            "AnyOf matches exactly its values", *any);
    }
  }

  // A decimal literal reads back as the same double.
  const double number = provider.ConsumeFloatingPoint<double>();
  const absl::StatusOr<std::string> decimal = Filter::Eq(kCost, Literal::Decimal(number)).Build();
  Check(decimal.ok() == std::isfinite(number), "Decimal fails exactly for non-finite numbers");
  if (decimal.ok()) {
    const std::string literal = decimal->substr(decimal->rfind(' ') + 1);
    double back = 0;
    Check(absl::SimpleAtod(literal, &back) && back == number, "a decimal reads back", literal);
  }
  return 0;
}
