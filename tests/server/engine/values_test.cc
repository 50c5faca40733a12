#include "server/engine/values.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseNumberTest, Valid) {
  struct Case {
    std::string_view text;
    double want;
  };
  for (const Case& c : std::vector<Case>{{"0", 0},
                                         {"12", 12},
                                         {"-3.5", -3.5},
                                         {"+4", 4},
                                         {".5", 0.5},
                                         {"7.", 7},
                                         {"007", 7},
                                         {"1e3", 1000},
                                         {"-2.5E-2", -0.025},
                                         {"  42.25\t", 42.25},
                                         {"123456789.125", 123456789.125}}) {
    absl::StatusOr<double> got = ParseNumber(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_DOUBLE_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseNumberTest, Invalid) {
  for (std::string_view text :
       {"",     "   ", "abc", "12abc",    "1,234", "1 234", "--1",   "+-1",
        "+",    "-",   ".",   "1e",       "1e+",   "e5",    "0x10",  "inf",
        "-inf", "nan", "NaN", "Infinity", "1.2.3", "١٢",    "1e999", "$5"}) {
    absl::StatusOr<double> got = ParseNumber(text);
    EXPECT_FALSE(got.ok()) << "\"" << text << "\" parsed as " << *got;
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << text;
    }
  }
}

TEST(ParseNumberTest, ErrorNamesTheValue) {
  EXPECT_THAT(ParseNumber("12abc").status().message(), HasSubstr("\"12abc\""));
  EXPECT_THAT(ParseNumber("").status().message(), HasSubstr("empty"));
}

TEST(ToIsoUtcTest, Valid) {
  EXPECT_EQ(ToIsoUtc("2024-03-15").value(), "2024-03-15T00:00:00Z");
  EXPECT_EQ(ToIsoUtc("2024-03-15 13:45:09").value(), "2024-03-15T13:45:09Z");
  EXPECT_EQ(ToIsoUtc("2024-02-29").value(), "2024-02-29T00:00:00Z");  // Leap year.
  EXPECT_EQ(ToIsoUtc("1999-12-31 23:59:59").value(), "1999-12-31T23:59:59Z");
  EXPECT_EQ(ToIsoUtc("0001-01-01 00:00:00").value(), "0001-01-01T00:00:00Z");
  EXPECT_EQ(ToIsoUtc(" 2024-03-15 \n").value(), "2024-03-15T00:00:00Z");
}

TEST(ToIsoUtcTest, InvalidRanges) {
  for (std::string_view text : {"2024-13-01", "2024-00-10", "2024-02-30", "2023-02-29",
                                "2024-04-31", "2024-01-00", "2024-01-32", "2024-01-01 24:00:00",
                                "2024-01-01 23:60:00", "2024-01-01 23:59:60", "0000-01-01"}) {
    absl::StatusOr<std::string> got = ToIsoUtc(text);
    EXPECT_FALSE(got.ok()) << text << " -> " << *got;
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(got.status().message(), HasSubstr("out of range")) << text;
    }
  }
}

TEST(ToIsoUtcTest, InvalidShapes) {
  for (std::string_view text :
       {"", "garbage", "2024-3-15", "2024/03/15", "15-03-2024", "2024-03-15T13:45:09",
        "2024-03-15T13:45:09Z", "2024-03-15 13:45", "2024-03-15 13:45:09.123", "2024-03-1x",
        "+024-03-15", "2024-03-15  13:45:0", "20240315", "2024-03-15 13-45-09",
        "2024-03-15 1:45:09 "}) {
    absl::StatusOr<std::string> got = ToIsoUtc(text);
    EXPECT_FALSE(got.ok()) << "\"" << text << "\" -> " << *got;
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << text;
    }
  }
  EXPECT_THAT(ToIsoUtc("garbage").status().message(), HasSubstr("\"garbage\""));
}

TEST(SplitEntriesTest, PocRegulatoryList) {
  EXPECT_THAT(SplitEntries("GDPR, SOX,HIPAA", ","), ElementsAre("GDPR", "SOX", "HIPAA"));
}

TEST(SplitEntriesTest, BlankEntriesDropped) {
  EXPECT_THAT(SplitEntries(" , ,", ","), IsEmpty());
  EXPECT_THAT(SplitEntries("", ","), IsEmpty());
  EXPECT_THAT(SplitEntries(",a,,b,", ","), ElementsAre("a", "b"));
}

TEST(SplitEntriesTest, DuplicatesDroppedOrderKept) {
  EXPECT_THAT(SplitEntries("SOX, GDPR, SOX ,GDPR,HIPAA", ","), ElementsAre("SOX", "GDPR", "HIPAA"));
  // Only exact duplicates: case differs, so both stay.
  EXPECT_THAT(SplitEntries("sox,SOX", ","), ElementsAre("sox", "SOX"));
}

TEST(SplitEntriesTest, MultiCharacterSeparatorAndUnicode) {
  EXPECT_THAT(SplitEntries("a || b||c", "||"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(SplitEntries("Zoë Müller;  O'Brien, Jr. ;", ";"),
              ElementsAre("Zoë Müller", "O'Brien, Jr."));
  EXPECT_THAT(SplitEntries("a,b", ";"), ElementsAre("a,b"));
}

TEST(SplitEntriesTest, EmptySeparatorGivesWholeValue) {
  EXPECT_THAT(SplitEntries("  a, b ", ""), ElementsAre("a, b"));
  EXPECT_THAT(SplitEntries("   ", ""), IsEmpty());
}

TEST(JoinEntriesTest, Joins) {
  EXPECT_EQ(JoinEntries({"1", "2", "3"}, "|"), "1|2|3");
  EXPECT_EQ(JoinEntries({"only"}, "|"), "only");
  EXPECT_EQ(JoinEntries({}, "|"), "");
  EXPECT_EQ(JoinEntries({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(JoinEntries({"a", "b"}, ""), "ab");
}

TEST(SplitJoinTest, RoundTrip) {
  EXPECT_EQ(JoinEntries(SplitEntries("GDPR, SOX,HIPAA, SOX", ","), "|"), "GDPR|SOX|HIPAA");
}

}  // namespace
}  // namespace onsync::engine
