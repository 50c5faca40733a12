#include "common/trace_context.h"

#include <optional>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync {
namespace {

using ::testing::MatchesRegex;

constexpr char kExample[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContextTest, ParsesTheSpecExampleAndFormatsItBack) {
  const std::optional<TraceContext> trace = ParseTraceparent(kExample);
  ASSERT_TRUE(trace.has_value());
  EXPECT_EQ(trace->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(trace->flags, 1);
  EXPECT_EQ(trace->ToTraceparent(), kExample);
  EXPECT_EQ(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->flags, 0);
  EXPECT_EQ(TraceIdOf(kExample), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceContextTest, AcceptsALaterVersionWithTheSameLeadingFields) {
  EXPECT_TRUE(
      ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").has_value());
  EXPECT_TRUE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
                  .has_value());
}

TEST(TraceContextTest, RejectsEverythingElse) {
  for (const char* bad : {
           "",
           "00",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // 00 has no extras
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // forbidden version
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
           "00-4bf92f3577b34da6a3ce929d0e0e4736\n00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
    EXPECT_EQ(TraceIdOf(bad), "") << bad;
  }
}

TEST(TraceContextTest, NewTracesAreValidSampledAndDistinct) {
  std::set<std::string> trace_ids;
  for (int i = 0; i < 100; ++i) {
    const TraceContext trace = NewTrace();
    EXPECT_THAT(trace.ToTraceparent(), MatchesRegex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"));
    EXPECT_TRUE(ParseTraceparent(trace.ToTraceparent()).has_value());
    trace_ids.insert(trace.trace_id);
  }
  EXPECT_EQ(trace_ids.size(), 100u);
}

TEST(TraceContextTest, AChildKeepsTheTraceAndFlagsWithANewParentId) {
  const TraceContext parent = *ParseTraceparent(kExample);
  const TraceContext child = ChildOf(parent);
  EXPECT_EQ(child.trace_id, parent.trace_id);
  EXPECT_EQ(child.flags, parent.flags);
  EXPECT_NE(child.parent_id, parent.parent_id);
  EXPECT_TRUE(ParseTraceparent(child.ToTraceparent()).has_value());
}

TEST(TraceContextTest, ContinuesAValidHeaderAndStartsANewTraceOtherwise) {
  EXPECT_EQ(ContinueOrStartTrace(kExample).trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(ContinueOrStartTrace(kExample).parent_id, "00f067aa0ba902b7");
  const TraceContext fresh = ContinueOrStartTrace("garbage");
  EXPECT_NE(fresh.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(ParseTraceparent(fresh.ToTraceparent()).has_value());
  EXPECT_TRUE(ParseTraceparent(ContinueOrStartTrace(std::nullopt).ToTraceparent()).has_value());
}

}  // namespace
}  // namespace onsync
