#include "gateway/routes/error_response.h"

#include "common/retry_after.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::gateway {
namespace {

TEST(HttpStatusFromCodeTest, FollowsTheGrpcGatewayTable) {
  const std::pair<absl::StatusCode, int> table[] = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDataLoss, 500},
      {absl::StatusCode::kUnauthenticated, 401},
  };
  for (const auto& [code, http_status] : table) {
    EXPECT_EQ(HttpStatusFromCode(code), http_status) << absl::StatusCodeToString(code);
  }
}

TEST(ErrorResponseTest, BodyIsCodeMessageDetailsWithEscapedMessage) {
  const http::Response response = ErrorResponse(absl::NotFoundError("no \"x\"\nhere"));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"code":5,"message":"no \"x\"\nhere","details":[]})");
}

TEST(ErrorResponseTest, ExplicitHttpStatusKeepsTheCode) {
  const http::Response response =
      ErrorResponse(415, absl::StatusCode::kInvalidArgument, "Content-Type");
  EXPECT_EQ(response.status, 415);
  EXPECT_EQ(response.body, R"({"code":3,"message":"Content-Type","details":[]})");
}

TEST(ErrorResponseTest, UnauthenticatedAsksForCredentials) {
  const http::Response response = ErrorResponse(absl::UnauthenticatedError("who are you"));
  EXPECT_EQ(response.status, 401);
  EXPECT_THAT(response.headers,
              ::testing::Contains(::testing::Pair("WWW-Authenticate", ::testing::_)));
}

TEST(ErrorResponseTest, ARetryHintBecomesRetryAfterInWholeSeconds) {
  const http::Response busy =
      ErrorResponse(WithRetryAfter(absl::UnavailableError("at capacity"), absl::Seconds(1)));
  EXPECT_EQ(busy.status, 503);
  EXPECT_THAT(busy.headers, ::testing::Contains(::testing::Pair("Retry-After", "1")));

  const http::Response throttled = ErrorResponse(
      WithRetryAfter(absl::ResourceExhaustedError("slow down"), absl::Milliseconds(2100)));
  EXPECT_EQ(throttled.status, 429);
  EXPECT_THAT(throttled.headers, ::testing::Contains(::testing::Pair("Retry-After", "3")));

  const http::Response plain = ErrorResponse(absl::UnavailableError("down"));
  EXPECT_THAT(plain.headers,
              ::testing::Not(::testing::Contains(::testing::Pair("Retry-After", ::testing::_))));
}

}  // namespace
}  // namespace onsync::gateway
