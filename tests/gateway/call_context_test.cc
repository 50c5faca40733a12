#include "gateway/routes/call_context.h"

#include <grpcpp/client_context.h>

#include <chrono>

#include "absl/time/clock.h"
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

// Expects ConfigureCallContext to give a call for `request` `expected` to run.
void ExpectDeadline(const http::Request& request, const RpcDeadlines& deadlines,
                    absl::Duration expected) {
  grpc::ClientContext context;
  const absl::Time before = absl::Now();
  ASSERT_TRUE(ConfigureCallContext(request, deadlines, context).ok());
  const absl::Time after = absl::Now();
  const absl::Time deadline = absl::FromChrono(context.deadline());
  EXPECT_GE(deadline, before + expected);
  EXPECT_LE(deadline, after + expected);
}

TEST(ConfigureCallContextTest, DeadlineIsTheHeaderClampedElseTheDefault) {
  const RpcDeadlines deadlines{.default_deadline = absl::Seconds(25),
                               .max_deadline = absl::Seconds(120)};
  http::Request request;
  ExpectDeadline(request, deadlines, absl::Seconds(25));
  request.headers = {{"grpc-timeout", "3S"}};
  ExpectDeadline(request, deadlines, absl::Seconds(3));
  request.headers = {{"grpc-timeout", "1H"}};
  ExpectDeadline(request, deadlines, absl::Seconds(120));
}

TEST(ConfigureCallContextTest, MalformedTimeoutLeavesTheContextAlone) {
  http::Request request;
  request.headers = {{"grpc-timeout", "soon"}};
  grpc::ClientContext context;
  const auto unset = context.deadline();
  const absl::Status status = ConfigureCallContext(request, RpcDeadlines(), context);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("grpc-timeout"), absl::string_view::npos) << status;
  EXPECT_EQ(context.deadline(), unset);
}

}  // namespace
}  // namespace onsync::gateway
