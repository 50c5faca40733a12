#include "clients/servicenow/encoded_query.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients::servicenow {
namespace {

using ::testing::HasSubstr;

std::string Q(const EncodedQuery& q) {
  absl::StatusOr<std::string> built = q.Build();
  EXPECT_TRUE(built.ok()) << built.status();
  return built.ok() ? *built : "";
}

absl::StatusCode Code(const EncodedQuery& q) { return q.Build().status().code(); }

TEST(EncodedQueryTest, EqualsPlainValue) {
  EXPECT_EQ(Q(EncodedQuery().Equals("name", "Payroll")), "name=Payroll");
  EXPECT_EQ(UrlEncode("name=Payroll"), "name%3DPayroll");
}

TEST(EncodedQueryTest, EmptyBuilderIsNoFilter) { EXPECT_EQ(Q(EncodedQuery()), ""); }

TEST(EncodedQueryTest, QuoteIsLiteral) {
  const std::string q = Q(EncodedQuery().Equals("name", "O'Brien"));
  EXPECT_EQ(q, "name=O'Brien");
  EXPECT_EQ(UrlEncode(q), "name%3DO%27Brien");
}

TEST(EncodedQueryTest, CaretIsDoubledSoOrCannotBeInjected) {
  const std::string q = Q(EncodedQuery().Equals("name", "a^ORb=c"));
  EXPECT_EQ(q, "name=a^^ORb=c");
  EXPECT_EQ(UrlEncode(q), "name%3Da%5E%5EORb%3Dc");
}

TEST(EncodedQueryTest, CaretIsDoubledSoNewQueryCannotBeInjected) {
  const std::string q = Q(EncodedQuery().Equals("name", "x^NQname=y"));
  EXPECT_EQ(q, "name=x^^NQname=y");
  EXPECT_EQ(UrlEncode(q), "name%3Dx%5E%5ENQname%3Dy");
}

TEST(EncodedQueryTest, CaretsAtTheEdgesOfAValue) {
  EXPECT_EQ(Q(EncodedQuery().Equals("name", "^a^").Equals("active", "true")),
            "name=^^a^^^active=true");
}

TEST(EncodedQueryTest, JavascriptValuesRejected) {
  for (const char* value :
       {"javascript:gs.log(1)", " JavaScript:x", "\tJAVASCRIPT:gs.getUserID()", "javascript:"}) {
    absl::StatusOr<std::string> q = EncodedQuery().Equals("caller_id", value).Build();
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(q.status().message(), HasSubstr("javascript:")) << value;
    EXPECT_THAT(q.status().message(), HasSubstr("caller_id")) << value;
  }
  // Only a leading `javascript:` runs; the word elsewhere is data.
  EXPECT_EQ(Q(EncodedQuery().Equals("name", "notjavascript:x")), "name=notjavascript:x");
  EXPECT_EQ(Q(EncodedQuery().Equals("name", "javascript")), "name=javascript");
}

TEST(EncodedQueryTest, UnicodeKeptAndPercentEncodedAsUtf8) {
  const std::string q = Q(EncodedQuery().Equals("name", "Zoë ✓"));
  EXPECT_EQ(q, "name=Zoë ✓");
  EXPECT_EQ(UrlEncode(q), "name%3DZo%C3%AB%20%E2%9C%93");
}

TEST(EncodedQueryTest, NewlineCarriageReturnAndNulRejected) {
  EXPECT_EQ(Code(EncodedQuery().Equals("name", "a\nb")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(EncodedQuery().Equals("name", "a\rb")), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(EncodedQuery().Equals("name", std::string("a\0b", 3))),
            absl::StatusCode::kInvalidArgument);
}

TEST(EncodedQueryTest, EmptyValueRejected) {
  EXPECT_EQ(Code(EncodedQuery().Equals("name", "")), absl::StatusCode::kInvalidArgument);
}

TEST(EncodedQueryTest, FieldNamesValidated) {
  EXPECT_EQ(Q(EncodedQuery().Equals("it_application_owner.name", "Fred")),
            "it_application_owner.name=Fred");
  EXPECT_EQ(Q(EncodedQuery().Equals("u_L3_name2", "x")), "u_L3_name2=x");
  for (const char* field : {"", "name=", "a b", "a..b", ".a", "a.", "name^ORx", "na-me", "ä"}) {
    EXPECT_EQ(Code(EncodedQuery().Equals(field, "x")), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_EQ(Code(EncodedQuery().OrderBy(field)), absl::StatusCode::kInvalidArgument) << field;
  }
}

TEST(EncodedQueryTest, FirstErrorIsSticky) {
  absl::StatusOr<std::string> q =
      EncodedQuery().Equals("bad field", "x").Equals("name", "javascript:1").Build();
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(q.status().message(), HasSubstr("bad field"));
}

TEST(EncodedQueryTest, InIsAnOrChainOfEqualities) {
  EXPECT_EQ(Q(EncodedQuery().In("name", {"a", "b,c", "a"})), "name=a^ORname=b,c");
  EXPECT_EQ(Q(EncodedQuery().Equals("active", "true").In("name", {"x^y", "z"}).Equals("k", "v")),
            "active=true^name=x^^y^ORname=z^k=v");
  EXPECT_EQ(Code(EncodedQuery().In("name", {})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(EncodedQuery().In("name", {"ok", "javascript:x"})),
            absl::StatusCode::kInvalidArgument);
}

TEST(EncodedQueryTest, ComparisonsGroupsAndOrdering) {
  EXPECT_EQ(Q(EncodedQuery()
                  .GreaterOrEquals("sys_updated_on", "2024-01-01 00:00:00")
                  .NewGroup()
                  .GreaterThan("sys_id", "abc")
                  .OrderBy("sys_updated_on")
                  .OrderBy("number", /*descending=*/true)),
            "sys_updated_on>=2024-01-01 00:00:00^NQsys_id>abc^ORDERBYsys_updated_on"
            "^ORDERBYDESCnumber");
  EXPECT_EQ(Q(EncodedQuery().OrderBy("sys_id")), "ORDERBYsys_id");
  EXPECT_EQ(Code(EncodedQuery().Equals("a", "b").NewGroup()), absl::StatusCode::kInvalidArgument);
}

// Found by the encoded_query fuzzer: `sys_updated_on>` + "=x" read as `>=` x.
TEST(EncodedQueryTest, AGreaterThanValueCannotTurnTheOperatorIntoGreaterOrEquals) {
  EXPECT_EQ(Code(EncodedQuery().GreaterThan("sys_updated_on", "=x")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Q(EncodedQuery().GreaterThan("sys_updated_on", "x=")), "sys_updated_on>x=");
}

TEST(EncodedQueryTest, AfterCursor) {
  EncodedQuery filter;
  filter.Equals("active", "true");
  absl::StatusOr<std::string> q =
      EncodedQuery::AfterCursor(filter, "2024-01-01 10:00:00", "0123456789abcdef");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q,
            "active=true^sys_updated_on>2024-01-01 10:00:00"
            "^NQactive=true^sys_updated_on=2024-01-01 10:00:00^sys_id>0123456789abcdef"
            "^ORDERBYsys_updated_on^ORDERBYsys_id");

  q = EncodedQuery::AfterCursor(EncodedQuery(), "2024-01-01 10:00:00", "abc");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q,
            "sys_updated_on>2024-01-01 10:00:00^NQsys_updated_on=2024-01-01 10:00:00^sys_id>abc"
            "^ORDERBYsys_updated_on^ORDERBYsys_id");

  q = EncodedQuery::AfterCursor(EncodedQuery(), "2024-01-01 10:00:00", "");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q, "sys_updated_on>=2024-01-01 10:00:00^ORDERBYsys_updated_on^ORDERBYsys_id");

  q = EncodedQuery::AfterCursor(EncodedQuery(), "", "");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q, "ORDERBYsys_updated_on^ORDERBYsys_id");

  EXPECT_EQ(EncodedQuery::AfterCursor(EncodedQuery(), "", "abc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodedQuery::AfterCursor(EncodedQuery(), "javascript:gs.now()", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EncodedQuery ordered;
  ordered.OrderBy("name");
  EXPECT_EQ(EncodedQuery::AfterCursor(ordered, "2024-01-01 10:00:00", "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(UrlEncodeTest, KeepsOnlyUnreserved) {
  EXPECT_EQ(UrlEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(UrlEncode("a+b c&d#e%f/g?h=i,j^k'"), "a%2Bb%20c%26d%23e%25f%2Fg%3Fh%3Di%2Cj%5Ek%27");
  EXPECT_EQ(UrlEncode(std::string("\0\xff", 2)), "%00%FF");
}

}  // namespace
}  // namespace onsync::clients::servicenow
