#include "tests/sandbox/onspring_filter.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/sandbox.h"

namespace onsync::sandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Works on the default seed: app 300 (Business Applications) and app 100 (Users).
class OnspringFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<rapidjson::Document> seed = ParseJson(Sandbox::DefaultSeed());
    ASSERT_TRUE(seed.ok()) << seed.status();
    absl::StatusOr<OsStore> store = OsStore::FromSeed((*seed)["onspring"]);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // Record ids of `app` matching `filter`.
  std::vector<int64_t> Ids(int64_t app_id, std::string_view filter) {
    const OsApp& app = *store_.FindApp(app_id);
    absl::StatusOr<OsFilter> parsed = OsFilter::Parse(filter, store_, app);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    std::vector<int64_t> ids;
    if (!parsed.ok()) return ids;
    for (const auto& [id, record] : app.records) {
      if (parsed->Matches(store_, record, /*case_sensitive=*/false)) ids.push_back(id);
    }
    return ids;
  }

  absl::Status Error(int64_t app_id, std::string_view filter) {
    return OsFilter::Parse(filter, store_, *store_.FindApp(app_id)).status();
  }

  OsStore store_;
};

TEST_F(OnspringFilterTest, EmptyFilterMatchesAll) {
  EXPECT_EQ(Ids(300, "").size(), 7u);
  EXPECT_EQ(Ids(300, "   ").size(), 7u);
}

TEST_F(OnspringFilterTest, QuotedTextWithDoubledQuote) {
  EXPECT_THAT(Ids(300, "3001 eq 'O''Brien Ledger'"), ElementsAre(2));
  EXPECT_THAT(Ids(300, "3001 eq 'Pay^Roll'"), ElementsAre(3));
  EXPECT_THAT(Ids(300, "3001 eq 'Zoë ✓ Portal'"), ElementsAre(4));
  EXPECT_THAT(Ids(300, "3001 eq 'payroll'"), ElementsAre(1));  // case-insensitive
  EXPECT_THAT(Ids(300, "3001 ne 'Payroll'").size(), 6u);
  EXPECT_THAT(Ids(300, "3001 contains 'Payroll'"), ElementsAre(1, 7));
}

TEST_F(OnspringFilterTest, FormulaAndListFields) {
  EXPECT_THAT(Ids(100, "1005 eq 'Fred Jones'"), ElementsAre(1));
  EXPECT_THAT(Ids(100, "1007 contains 'Tier 3'"), ElementsAre(3));
  EXPECT_THAT(Ids(100, "1007 contains '9e34f1a4-7bbb-5b84-af5b-0b954f359412'"), ElementsAre(3));
  EXPECT_THAT(Ids(300, "3011 contains 'No'").size(), 7u);
  EXPECT_THAT(Ids(300, "3011 contains 'Yes'"), IsEmpty());
}

TEST_F(OnspringFilterTest, BooleanLogicAndParentheses) {
  EXPECT_THAT(Ids(100, "1001 eq 'Fred' or 1001 eq 'Beth' and 1002 eq 'Nobody'"), ElementsAre(1));
  EXPECT_THAT(Ids(100, "(1001 eq 'Fred' or 1001 eq 'Beth') and 1002 eq 'Anglin'"), ElementsAre(2));
  EXPECT_THAT(Ids(100, "not (1001 eq 'Fred' or 1001 eq 'Beth')"), ElementsAre(3));
  EXPECT_THAT(Ids(100, "NOT 1001 eq 'Fred' AND 1007 contains 'Tier 1'"), ElementsAre(2));
}

TEST_F(OnspringFilterTest, NullsNumbersAndDates) {
  EXPECT_THAT(Ids(300, "3002 isnull").size(), 7u);
  EXPECT_THAT(Ids(300, "3002 notnull"), IsEmpty());
  EXPECT_THAT(Ids(300, "3012 gt 1005"), ElementsAre(6, 7));  // the auto-number field
  EXPECT_THAT(Ids(300, "3012 eq '1001'"), ElementsAre(1));
  EXPECT_THAT(Ids(300, "3012 lt 1003 and 3012 gt 1001"), ElementsAre(2));
}

TEST_F(OnspringFilterTest, SingleSelectListByName) {
  EXPECT_THAT(Ids(100, "1006 eq 'Active'"), ElementsAre(1, 2, 3));
}

TEST_F(OnspringFilterTest, Errors) {
  EXPECT_THAT(Error(300, "3001 eq 'O'Brien'").message(), HasSubstr("Invalid filter"));
  EXPECT_THAT(Error(300, "3001 eq 'unterminated").message(), HasSubstr("unterminated"));
  EXPECT_THAT(Error(300, "9999 eq 'x'").message(), HasSubstr("not a field of app 300"));
  EXPECT_THAT(Error(300, "1001 eq 'x'").message(), HasSubstr("not a field of app 300"));
  EXPECT_THAT(Error(300, "3001 like 'x'").message(), HasSubstr("unknown operator"));
  EXPECT_THAT(Error(300, "3004 gt 'x'").message(), HasSubstr("does not apply"));
  EXPECT_THAT(Error(300, "3001 eq 'x' and").message(), HasSubstr("Invalid filter"));
  EXPECT_THAT(Error(300, "(3001 eq 'x'").message(), HasSubstr("expected ')'"));
  EXPECT_THAT(Error(300, "3001 eq").message(), HasSubstr("expected a literal"));
  EXPECT_TRUE(Error(300, "3001 eq datetime'2014-03-01T00:00:00.0000000'").ok());
  EXPECT_THAT(Error(300, "3001 eq datetime'yesterday'").message(), HasSubstr("invalid date"));
}

}  // namespace
}  // namespace onsync::sandbox
