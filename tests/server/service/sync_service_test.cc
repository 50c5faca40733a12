#include "server/service/sync_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/service/server.h"

namespace onsync::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const v1::Config> TwoProfiles() {
  auto config = std::make_shared<v1::Config>();
  v1::Profile& zeta = (*config->mutable_profiles())["zeta"];
  zeta.mutable_source()->set_table("sys_user");
  zeta.mutable_source()->set_key_field("user_name");
  zeta.add_auth()->mutable_bearer()->set_token("${TOKEN}");
  v1::Profile& alpha = (*config->mutable_profiles())["alpha"];
  alpha.set_description("business applications");
  alpha.mutable_source()->set_table("cmdb_ci_business_app");
  alpha.mutable_source()->set_key_field("name");
  return config;
}

class SyncServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = Server::Start({.listen = "127.0.0.1:0", .config = TwoProfiles()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::SyncService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SyncService::Stub> stub_;
};

TEST_F(SyncServiceTest, ListProfilesIsSortedAndHidesCallerAuth) {
  grpc::ClientContext context;
  v1::ListProfilesResponse response;
  const grpc::Status status = stub_->ListProfiles(&context, {}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.profiles_size(), 2);
  EXPECT_EQ(response.profiles(0).name(), "alpha");
  EXPECT_EQ(response.profiles(0).profile().description(), "business applications");
  EXPECT_EQ(response.profiles(0).profile().source().table(), "cmdb_ci_business_app");
  EXPECT_EQ(response.profiles(1).name(), "zeta");
  EXPECT_EQ(response.profiles(1).profile().auth_size(), 0);
}

TEST_F(SyncServiceTest, SyncRecordRefusesBadRequestsWithPreciseCodes) {
  auto call = [&](const v1::SyncRecordRequest& request) {
    grpc::ClientContext context;
    v1::SyncRecordResponse response;
    return stub_->SyncRecord(&context, request, &response);
  };
  v1::SyncRecordRequest request;
  grpc::Status status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "profile or inline_profile is required");

  request.set_profile("nope");
  request.mutable_trigger()->set_key("Payroll");
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no profile named \"nope\" (configured: alpha, zeta)");

  request.set_profile("alpha");
  request.clear_trigger();
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("trigger.key"));

  // The test config has no connections.
  request.mutable_trigger()->set_key("Payroll");
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "no servicenow connection is configured");

  // An inline profile is validated like a configured one.
  request.mutable_inline_profile()->mutable_source()->set_table("cmdb_ci_business_app");
  status = call(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("inline_profile.source.key_field"));
}

TEST_F(SyncServiceTest, UnbuiltUnaryMethodsAnswerUnimplementedNamingTheMethod) {
  struct Case {
    std::string method;
    std::function<grpc::Status(grpc::ClientContext*)> call;
  };
  const std::vector<Case> cases = {
      {"EnqueueSync",
       [&](grpc::ClientContext* c) {
         v1::EnqueueSyncResponse r;
         return stub_->EnqueueSync(c, {}, &r);
       }},
      {"StartBatchSync",
       [&](grpc::ClientContext* c) {
         v1::StartBatchSyncResponse r;
         return stub_->StartBatchSync(c, {}, &r);
       }},
      {"GetJob",
       [&](grpc::ClientContext* c) {
         v1::GetJobResponse r;
         return stub_->GetJob(c, {}, &r);
       }},
      {"ListJobs",
       [&](grpc::ClientContext* c) {
         v1::ListJobsResponse r;
         return stub_->ListJobs(c, {}, &r);
       }},
      {"RetryJob",
       [&](grpc::ClientContext* c) {
         v1::RetryJobResponse r;
         return stub_->RetryJob(c, {}, &r);
       }},
      {"CancelJob",
       [&](grpc::ClientContext* c) {
         v1::CancelJobResponse r;
         return stub_->CancelJob(c, {}, &r);
       }},
  };
  for (const Case& c : cases) {
    grpc::ClientContext context;
    const grpc::Status status = c.call(&context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << c.method;
    EXPECT_THAT(status.error_message(), HasSubstr(c.method));
  }
}

TEST_F(SyncServiceTest, WatchJobStreamEndsUnimplemented) {
  grpc::ClientContext context;
  auto reader = stub_->WatchJob(&context, v1::WatchJobRequest());
  v1::WatchJobResponse message;
  EXPECT_FALSE(reader->Read(&message));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(status.error_message(), HasSubstr("WatchJob"));
}

TEST(ServerStartTest, AddressInUseIsUnavailable) {
  auto config = std::make_shared<v1::Config>();
  auto first = Server::Start({.listen = "127.0.0.1:0", .config = config});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second =
      Server::Start({.listen = absl::StrCat("127.0.0.1:", (*first)->port()), .config = config});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen"));
}

TEST(ServerStartTest, MissingConfigIsInvalidArgument) {
  auto server = Server::Start({.listen = "127.0.0.1:0", .config = nullptr});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace onsync::server
