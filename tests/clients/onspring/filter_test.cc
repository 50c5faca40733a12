#include "clients/onspring/filter.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients::onspring {
namespace {

std::string F(const Filter& f) {
  absl::StatusOr<std::string> built = f.Build();
  EXPECT_TRUE(built.ok()) << built.status();
  return built.ok() ? *built : "";
}

TEST(FilterTest, StringLiteralsDoubleQuotes) {
  EXPECT_EQ(F(Filter::Eq(1005, Literal::String("O'Brien"))), "1005 eq 'O''Brien'");
  EXPECT_EQ(F(Filter::Eq(1005, Literal::String("'; or 1 eq 1"))), "1005 eq '''; or 1 eq 1'");
  EXPECT_EQ(F(Filter::Eq(1005, Literal::String("it's ' a '' test'"))),
            "1005 eq 'it''s '' a '''' test'''");
  EXPECT_EQ(F(Filter::Eq(1005, Literal::String("') or (1 notnull"))),
            "1005 eq ''') or (1 notnull'");
  EXPECT_EQ(F(Filter::Eq(1005, Literal::String(""))), "1005 eq ''");
}

TEST(FilterTest, UnicodeKeptVerbatim) {
  EXPECT_EQ(F(Filter::Eq(7, Literal::String("Zoë ✓"))), "7 eq 'Zoë ✓'");
}

TEST(FilterTest, NulRejected) {
  EXPECT_EQ(Filter::Eq(7, Literal::String(std::string("a\0b", 3))).Build().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FilterTest, OperatorsAndLiterals) {
  EXPECT_EQ(F(Filter::Ne(38, Literal::Integer(5))), "38 ne 5");
  EXPECT_EQ(F(Filter::Gt(4745, Literal::Integer(-12))), "4745 gt -12");
  EXPECT_EQ(F(Filter::Lt(40, Literal::Decimal(1.5))), "40 lt 1.5");
  EXPECT_EQ(F(Filter::Lt(40, Literal::Decimal(0.1))), "40 lt 0.1");
  EXPECT_EQ(F(Filter::Lt(37, Literal::DateTime(absl::FromUnixSeconds(1393632000)))),
            "37 lt datetime'2014-03-01T00:00:00.000Z'");
  EXPECT_EQ(F(Filter::Gt(37, Literal::DateTime(absl::FromUnixMillis(1393632000123)))),
            "37 gt datetime'2014-03-01T00:00:00.123Z'");
  EXPECT_EQ(F(Filter::Contains(6986, Literal::String("Complete"))), "6986 contains 'Complete'");
  EXPECT_EQ(F(Filter::IsNull(1)), "1 isnull");
  EXPECT_EQ(F(Filter::NotNull(2)), "2 notnull");
}

TEST(FilterTest, InvalidPartsAreStickyThroughCombinators) {
  EXPECT_EQ(Filter::Eq(0, Literal::Integer(1)).Build().status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::IsNull(-3).Build().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::Gt(1, Literal::Decimal(std::nan(""))).Build().status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::Gt(1, Literal::Decimal(std::numeric_limits<double>::infinity()))
                .Build()
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::Lt(1, Literal::DateTime(absl::InfiniteFuture())).Build().status().code(),
            absl::StatusCode::kInvalidArgument);
  const Filter nested = Filter::Not(
      Filter::And({Filter::Eq(1, Literal::String("a")), Filter::Or({Filter::IsNull(0)})}));
  EXPECT_EQ(nested.Build().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::And({}).Build().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Filter::Or({}).Build().status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FilterTest, Composition) {
  // The C# SDK README's example, with explicit grouping.
  const Filter f =
      Filter::And({Filter::Not(Filter::Or({Filter::Lt(38, Literal::Integer(10)),
                                           Filter::Eq(36, Literal::String("Smith"))})),
                   Filter::Gt(37, Literal::DateTime(absl::FromUnixSeconds(1393632000)))});
  EXPECT_EQ(F(f), "not (38 lt 10 or 36 eq 'Smith') and 37 gt datetime'2014-03-01T00:00:00.000Z'");
  EXPECT_EQ(F(Filter::Not(Filter::IsNull(5))), "not (5 isnull)");
  EXPECT_EQ(F(Filter::Or({Filter::And({Filter::IsNull(1), Filter::NotNull(2)}),
                          Filter::Eq(3, Literal::Integer(4))})),
            "(1 isnull and 2 notnull or 3 eq 4)");
  EXPECT_EQ(F(Filter::And({Filter::Or({Filter::IsNull(1), Filter::IsNull(2)}),
                           Filter::Or({Filter::IsNull(3), Filter::IsNull(4)})})),
            "(1 isnull or 2 isnull) and (3 isnull or 4 isnull)");
  EXPECT_EQ(F(Filter::And({Filter::IsNull(1)})), "1 isnull");
}

TEST(AnyOfTest, BatchedLookup) {
  EXPECT_EQ(AnyOf(1005, {"a", "b"}).value_or(""), "(1005 eq 'a' or 1005 eq 'b')");
  EXPECT_EQ(AnyOf(1005, {"Fred Jones", "O'Brien", "Fred Jones", "Zoë ✓"}).value_or(""),
            "(1005 eq 'Fred Jones' or 1005 eq 'O''Brien' or 1005 eq 'Zoë ✓')");
  EXPECT_EQ(AnyOf(1005, {"only", "only"}).value_or(""), "1005 eq 'only'");
  EXPECT_EQ(AnyOf(1005, {"'; or 1 eq 1"}).value_or(""), "1005 eq '''; or 1 eq 1'");
  EXPECT_EQ(AnyOf(1005, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AnyOf(0, {"a"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AnyOf(1, {std::string("\0", 1)}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace onsync::clients::onspring
