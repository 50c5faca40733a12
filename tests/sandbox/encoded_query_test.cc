#include "tests/sandbox/encoded_query.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/json_util.h"

namespace onsync::sandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kSeed[] = R"json({"tables": [
  {"name": "sys_user", "fields": [{"name": "name"}, {"name": "email"}],
   "rows": [{"sys_id": "00000000000000000000000000000001", "name": "Fred Jones", "email": "fred@x"},
            {"sys_id": "00000000000000000000000000000002", "name": "Beth Anglin", "email": ""}]},
  {"name": "app", "fields": [
     {"name": "name"}, {"name": "count", "type": "integer"},
     {"name": "owner", "type": "reference", "reference": "sys_user"}],
   "rows": [
     {"sys_id": "a0000000000000000000000000000001", "name": "Payroll", "count": "10",
      "owner": "00000000000000000000000000000001", "sys_updated_on": "2024-05-01 10:00:00"},
     {"sys_id": "a0000000000000000000000000000002", "name": "Pay^Roll", "count": "9",
      "owner": "00000000000000000000000000000002", "sys_updated_on": "2024-05-01 10:00:00"},
     {"sys_id": "a0000000000000000000000000000003", "name": "Zeta", "count": "100",
      "owner": "", "sys_updated_on": "2024-05-02 00:00:00"},
     {"sys_id": "a0000000000000000000000000000004", "name": "", "count": "",
      "owner": "", "sys_updated_on": "2024-05-03 00:00:00"}]}]})json";

class EncodedQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<rapidjson::Document> seed = ParseJson(kSeed);
    ASSERT_TRUE(seed.ok()) << seed.status();
    absl::StatusOr<SnStore> store = SnStore::FromSeed(*seed);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Names of the matching rows of "app", in result order.
  std::vector<std::string> Names(std::string_view query, SnQueryOptions options = {}) {
    const SnTable& table = *store_.FindTable("app");
    const SnEncodedQuery parsed = ParseEncodedQuery(query);
    SnQueryEvaluator evaluator(store_, table, parsed, options);
    std::vector<const SnRow*> rows;
    for (const SnRow& row : table.rows) {
      if (evaluator.Matches(row)) rows.push_back(&row);
    }
    evaluator.Sort(rows);
    std::vector<std::string> names;
    for (const SnRow* row : rows) names.push_back(row->at("name"));
    return names;
  }

  SnStore store_;
};

TEST(SplitEncodedQueryTest, DoubleCaretIsLiteral) {
  EXPECT_THAT(SplitEncodedQuery("name=Pay^^Roll^active=true"),
              ElementsAre("name=Pay^Roll", "active=true"));
  EXPECT_THAT(SplitEncodedQuery("a=x^^^ORb=y"), ElementsAre("a=x^", "ORb=y"));
  EXPECT_THAT(SplitEncodedQuery(""), ElementsAre(""));
}

TEST(ParseConditionTest, LongestOperatorWins) {
  SnCondition c = ParseCondition("nameISNOTEMPTY");
  EXPECT_EQ(c.op, "ISNOTEMPTY");
  c = ParseCondition("nameNOT LIKEfoo");
  EXPECT_EQ(c.op, "NOT LIKE");
  EXPECT_EQ(c.value, "foo");
  c = ParseCondition("count>=5");
  EXPECT_EQ(c.field, "count");
  EXPECT_EQ(c.op, ">=");
  c = ParseCondition("owner.name=a=b");
  EXPECT_EQ(c.field, "owner.name");
  EXPECT_EQ(c.value, "a=b");
  EXPECT_FALSE(ParseCondition("Roll").parsed);
}

TEST_F(EncodedQueryTest, EqualityAndEscapedCaret) {
  EXPECT_THAT(Names("name=Pay^^Roll"), ElementsAre("Pay^Roll"));
  // Unescaped, "Roll" is its own (invalid, dropped) term and the rest matches nothing.
  EXPECT_THAT(Names("name=Pay^Roll"), IsEmpty());
  EXPECT_THAT(Names("name=payroll"), ElementsAre("Payroll"));  // case-insensitive by default
  EXPECT_THAT(Names("name=payroll", {.case_sensitive = true}), IsEmpty());
}

TEST_F(EncodedQueryTest, UnknownFieldsAreDropped) {
  EXPECT_THAT(Names("nmae=Payroll"), ElementsAre("Payroll", "Pay^Roll", "Zeta", ""));
  EXPECT_THAT(Names("nmae=Payroll^name=Zeta"), ElementsAre("Zeta"));
  EXPECT_THAT(Names("nmae=Payroll", {.invalid_query_returns_no_rows = true}), IsEmpty());
  EXPECT_THAT(Names("owner.bogus=x^name=Zeta"), ElementsAre("Zeta"));
}

TEST_F(EncodedQueryTest, OrBindsTighterThanAndAndNqStartsAGroup) {
  EXPECT_THAT(Names("name=Payroll^ORname=Zeta"), ElementsAre("Payroll", "Zeta"));
  EXPECT_THAT(Names("count>9^name=Zeta^ORname=Payroll"), ElementsAre("Payroll", "Zeta"));
  EXPECT_THAT(Names("name=Zeta^NQname=Pay^^Roll"), ElementsAre("Pay^Roll", "Zeta"));
}

TEST_F(EncodedQueryTest, Operators) {
  EXPECT_THAT(Names("nameSTARTSWITHpay"), ElementsAre("Payroll", "Pay^Roll"));
  EXPECT_THAT(Names("nameENDSWITHroll"), ElementsAre("Payroll", "Pay^Roll"));
  // The unescaped ^ splits the value: "r" is a dropped term.
  EXPECT_THAT(Names("nameLIKEy^r"), ElementsAre("Payroll", "Pay^Roll"));
  EXPECT_THAT(Names("nameLIKEeta"), ElementsAre("Zeta"));
  EXPECT_THAT(Names("nameNOT LIKEpay"), ElementsAre("Zeta"));  // empty values never match
  EXPECT_THAT(Names("nameINZeta,Payroll"), ElementsAre("Payroll", "Zeta"));
  EXPECT_THAT(Names("nameNOT INZeta"), ElementsAre("Payroll", "Pay^Roll"));
  EXPECT_THAT(Names("nameISEMPTY"), ElementsAre(""));
  EXPECT_THAT(Names("nameISNOTEMPTY"), ElementsAre("Payroll", "Pay^Roll", "Zeta"));
  EXPECT_THAT(Names("name!=Zeta"), ElementsAre("Payroll", "Pay^Roll"));
  EXPECT_THAT(Names("count>9"), ElementsAre("Payroll", "Zeta"));  // numeric, not lexical
  EXPECT_THAT(Names("count<=9"), ElementsAre("Pay^Roll"));
  EXPECT_THAT(Names("countBETWEEN9@10"), ElementsAre("Payroll", "Pay^Roll"));
  EXPECT_THAT(Names("sys_updated_on>2024-05-01 10:00:00"), ElementsAre("Zeta", ""));
  EXPECT_THAT(Names("sys_updated_on>=javascript:gs.dateGenerate('2024-05-02','00:00:00')"),
              ElementsAre("Zeta", ""));
  // Other scripts are not evaluated: the term is dropped.
  EXPECT_THAT(Names("name=javascript:gs.getUserID()^name=Zeta"), ElementsAre("Zeta"));
}

TEST_F(EncodedQueryTest, DotWalksThroughReferences) {
  EXPECT_THAT(Names("owner.name=Fred Jones"), ElementsAre("Payroll"));
  EXPECT_THAT(Names("owner.emailISEMPTY"), ElementsAre("Pay^Roll", "Zeta", ""));
  EXPECT_THAT(Names("owner=00000000000000000000000000000002"), ElementsAre("Pay^Roll"));
}

TEST_F(EncodedQueryTest, OrderBy) {
  EXPECT_THAT(Names("nameISNOTEMPTY^ORDERBYname"), ElementsAre("Pay^Roll", "Payroll", "Zeta"));
  EXPECT_THAT(Names("nameISNOTEMPTY^ORDERBYDESCcount"), ElementsAre("Zeta", "Payroll", "Pay^Roll"));
  // References sort by display value; ties keep insertion order.
  EXPECT_THAT(Names("ORDERBYsys_updated_on^ORDERBYowner"),
              ElementsAre("Pay^Roll", "Payroll", "Zeta", ""));
  EXPECT_THAT(Names("ORDERBYbogus"), ElementsAre("Payroll", "Pay^Roll", "Zeta", ""));
}

}  // namespace
}  // namespace onsync::sandbox
