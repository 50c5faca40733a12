#include "common/status_grpc.h"

#include "common/retry_after.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace onsync {
namespace {

TEST(StatusGrpcTest, EveryCodeAndMessageCrossesBothWays) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), "what happened");
    const grpc::Status converted = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(converted.error_code()), code);
    EXPECT_EQ(converted.error_message(), "what happened");
    EXPECT_EQ(FromGrpcStatus(converted), status);
  }
}

TEST(StatusGrpcTest, ARetryHintCrossesAsAGoogleRpcRetryInfo) {
  const absl::Status status =
      WithRetryAfter(absl::UnavailableError("at capacity"), absl::Milliseconds(1500));
  const grpc::Status converted = ToGrpcStatus(status);
  EXPECT_EQ(converted.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(converted.error_message(), "at capacity");

  // The standard wire form: google.rpc.Status with one RetryInfo, delay rounded up to seconds.
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(converted.error_details()));
  EXPECT_EQ(details.code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_EQ(details.message(), "at capacity");
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo retry_info;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry_info));
  EXPECT_EQ(retry_info.retry_delay().seconds(), 2);

  const absl::Status back = FromGrpcStatus(converted);
  EXPECT_EQ(back.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(back.message(), "at capacity");
  EXPECT_EQ(RetryAfterFromStatus(back), absl::Seconds(2));
}

TEST(StatusGrpcTest, OtherPayloadsStayInTheProcess) {
  absl::Status status = absl::InternalError("boom");
  status.SetPayload("type.onsync.dev/onsync.http_status", absl::Cord("500"));
  const grpc::Status converted = ToGrpcStatus(status);
  EXPECT_TRUE(converted.error_details().empty());
  EXPECT_EQ(FromGrpcStatus(converted), absl::InternalError("boom"));
}

TEST(StatusGrpcTest, DetailsThatDoNotParseOrAreOutOfRangeAreIgnored) {
  const grpc::Status garbage(grpc::StatusCode::UNAVAILABLE, "down", "\xff\x01not a proto");
  EXPECT_EQ(FromGrpcStatus(garbage), absl::UnavailableError("down"));

  google::rpc::RetryInfo negative;
  negative.mutable_retry_delay()->set_seconds(-5);
  google::rpc::Status details;
  details.add_details()->PackFrom(negative);
  const absl::Status back = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "down", details.SerializeAsString()));
  EXPECT_EQ(back.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RetryAfterFromStatus(back), std::nullopt);
}

TEST(StatusGrpcTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace onsync
