#include "gateway/routes/generic_rpc_route.h"

#include "gtest/gtest.h"

namespace onsync::gateway {
namespace {

TEST(ParseGrpcTimeoutTest, AcceptsEveryUnit) {
  EXPECT_EQ(*ParseGrpcTimeout("2H"), absl::Hours(2));
  EXPECT_EQ(*ParseGrpcTimeout("3M"), absl::Minutes(3));
  EXPECT_EQ(*ParseGrpcTimeout("5S"), absl::Seconds(5));
  EXPECT_EQ(*ParseGrpcTimeout("250m"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseGrpcTimeout("7u"), absl::Microseconds(7));
  EXPECT_EQ(*ParseGrpcTimeout("99999999n"), absl::Nanoseconds(99999999));
}

TEST(ParseGrpcTimeoutTest, RejectsMalformedValues) {
  for (const char* bad : {"", "S", "5", "5s", "-5S", "5 S", "123456789S", "1.5S", "x5S"}) {
    EXPECT_EQ(ParseGrpcTimeout(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(IsJsonContentTypeTest, MediaTypeOnlyCaseInsensitive) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType(" application/json ;charset=utf-8"));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/jsonx"));
  EXPECT_FALSE(IsJsonContentType(""));
}

}  // namespace
}  // namespace onsync::gateway
