#include "tests/sandbox/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::sandbox {
namespace {

TEST(PercentDecodeTest, DecodesEscapesAndPlusInQueries) {
  EXPECT_EQ(PercentDecode("name%3DPay%5E%5ERoll", true), "name=Pay^^Roll");
  EXPECT_EQ(PercentDecode("a+b%2Bc", true), "a b+c");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("Zo%C3%AB", true), "Zo\xC3\xAB");
  // Malformed escapes stay as they are.
  EXPECT_EQ(PercentDecode("100%", true), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", true), "%zz%4");
}

TEST(PercentEncodeTest, KeepsOnlyUnreserved) {
  EXPECT_EQ(PercentEncode("Pay^Roll O'Brien/x~_.-"), "Pay%5ERoll%20O%27Brien%2Fx~_.-");
}

TEST(ParseQueryTest, KeepsRawPairsAndOrder) {
  const std::vector<QueryParam> params = ParseQuery("b=2&a=x%3Dy&&flag&c=");
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].key, "b");
  EXPECT_EQ(params[1].raw, "a=x%3Dy");
  EXPECT_EQ(params[1].value, "x=y");
  EXPECT_EQ(params[2].key, "flag");
  EXPECT_EQ(params[2].value, "");
  EXPECT_EQ(params[3].key, "c");
  EXPECT_EQ(FindParam(params, "A", /*ignore_case=*/true), "x=y");
  EXPECT_EQ(FindParam(params, "A"), std::nullopt);
}

TEST(PathSegmentsTest, SplitsAndDecodes) {
  EXPECT_THAT(PathSegments("/api/now/table/x%20y/"),
              ::testing::ElementsAre("api", "now", "table", "x y"));
}

TEST(Base64Test, RoundTrips) {
  for (std::string text : {"", "a", "ab", "abc", "admin:sandbox", "\xff\x00\x01"}) {
    absl::StatusOr<std::string> decoded = Base64Decode(Base64Encode(text));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
  EXPECT_EQ(Base64Encode("admin:sandbox"), "YWRtaW46c2FuZGJveA==");
  EXPECT_FALSE(Base64Decode("a*b").ok());
}

TEST(LoopbackTest, RecognisesLoopback) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_TRUE(IsLoopbackRemote("127.0.0.1:5555"));
  EXPECT_TRUE(IsLoopbackRemote("[::1]:5555"));
  EXPECT_FALSE(IsLoopbackRemote("192.168.1.2:5555"));
  absl::StatusOr<HostPort> address = ParseHostPort("[::1]:0");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(address->host, "[::1]");
  EXPECT_FALSE(ParseHostPort("nohost").ok());
  EXPECT_FALSE(ParseHostPort("h:99999").ok());
}

}  // namespace
}  // namespace onsync::sandbox
