#include "common/status_grpc.h"

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

TEST(StatusGrpcTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace onsync
