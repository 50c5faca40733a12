// grpcurl-style use of the server through reflection only, by a client not written in C++ or
// against onsync's protos: Debian's python3-grpcio driving scripts/grpc-reflect.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"

namespace onsync::testing {
namespace {

using ::testing::HasSubstr;

class ReflectionTest : public E2eTest {
 protected:
  void SetUp() override { StartServer(SourcePath("deploy/examples/business-app.yaml")); }
};

TEST_F(ReflectionTest, ListsEveryService) {
  const auto [code, out, err] = Reflect({"list"});
  ASSERT_EQ(code, 0) << err;
  EXPECT_THAT(out, HasSubstr("onsync.v1.SyncService\n"));
  EXPECT_THAT(out, HasSubstr("grpc.health.v1.Health\n"));
  EXPECT_THAT(out, HasSubstr("grpc.reflection.v1alpha.ServerReflection"));
}

TEST_F(ReflectionTest, DescribesSyncServiceWithEveryMethod) {
  const auto [code, out, err] = Reflect({"describe", "onsync.v1.SyncService"});
  ASSERT_EQ(code, 0) << err;
  for (const char* method : {"SyncRecord", "EnqueueSync", "StartBatchSync", "GetJob", "ListJobs",
                             "WatchJob", "RetryJob", "CancelJob", "ListProfiles"}) {
    EXPECT_THAT(out, HasSubstr(absl::StrCat("name: \"", method, "\""))) << out;
  }
  EXPECT_THAT(out, HasSubstr("server_streaming: true"));
}

TEST_F(ReflectionTest, DescribesMessagesAndHealth) {
  const auto [code, out, err] = Reflect({"describe", "onsync.v1.Job"});
  ASSERT_EQ(code, 0) << err;
  EXPECT_THAT(out, HasSubstr("name: \"state\""));
  const auto [health_code, health_out, health_err] = Reflect({"describe", "grpc.health.v1.Health"});
  ASSERT_EQ(health_code, 0) << health_err;
  EXPECT_THAT(health_out, HasSubstr("name: \"Check\""));
  EXPECT_THAT(health_out, HasSubstr("name: \"Watch\""));
}

TEST_F(ReflectionTest, CallsHealthCheckAndListProfiles) {
  const auto [code, out, err] = Reflect({"call", "grpc.health.v1.Health/Check", "{}"});
  ASSERT_EQ(code, 0) << err;
  EXPECT_THAT(out, HasSubstr("\"status\": \"SERVING\""));

  const auto [list_code, list_out, list_err] =
      Reflect({"call", "onsync.v1.SyncService/ListProfiles"});
  ASSERT_EQ(list_code, 0) << list_err;
  EXPECT_THAT(list_out, HasSubstr("\"name\": \"business_app\""));
  EXPECT_THAT(list_out, HasSubstr("\"matchFieldId\": 1005"));
}

TEST_F(ReflectionTest, ErrorsCarryTheGrpcCode) {
  const auto [code, out, err] = Reflect({"call", "onsync.v1.SyncService/SyncRecord",
                                         R"({"profile": "nope", "trigger": {"key": "Payroll"}})"});
  EXPECT_EQ(code, 1);
  EXPECT_THAT(err, HasSubstr("NOT_FOUND"));
}

}  // namespace
}  // namespace onsync::testing
