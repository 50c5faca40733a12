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
    auto server = Server::Start(
        {.listen = "127.0.0.1:0", .config = TwoProfiles(), .jobs_db_path = ":memory:"});
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

TEST_F(SyncServiceTest, JobMethodsAnswerNotFoundForUnknownJobsAndCheckTheirArguments) {
  const std::string unknown = "j_0000000000ZZZZZZZZZZZZZZZZ";
  {
    grpc::ClientContext context;
    v1::GetJobRequest request;
    request.set_job_id(unknown);
    v1::GetJobResponse response;
    EXPECT_EQ(stub_->GetJob(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(unknown);
    v1::CancelJobResponse response;
    EXPECT_EQ(stub_->CancelJob(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::RetryJobRequest request;
    request.set_job_id(unknown);
    v1::RetryJobResponse response;
    EXPECT_EQ(stub_->RetryJob(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    auto reader = stub_->WatchJob(&context, [&] {
      v1::WatchJobRequest request;
      request.set_job_id(unknown);
      return request;
    }());
    v1::WatchJobResponse message;
    EXPECT_FALSE(reader->Read(&message));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    ASSERT_TRUE(stub_->ListJobs(&context, {}, &response).ok());
    EXPECT_EQ(response.jobs_size(), 0);
  }
  {
    grpc::ClientContext context;
    v1::StartBatchSyncRequest request;
    request.set_profile("alpha");
    v1::StartBatchSyncResponse response;
    const grpc::Status status = stub_->StartBatchSync(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(), HasSubstr("no target"));
  }
  {
    grpc::ClientContext context;
    v1::EnqueueSyncRequest request;
    request.set_profile("nope");
    v1::EnqueueSyncResponse response;
    EXPECT_EQ(stub_->EnqueueSync(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST(ServerStartTest, AddressInUseIsUnavailable) {
  auto config = std::make_shared<v1::Config>();
  auto first =
      Server::Start({.listen = "127.0.0.1:0", .config = config, .jobs_db_path = ":memory:"});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = Server::Start({.listen = absl::StrCat("127.0.0.1:", (*first)->port()),
                               .config = config,
                               .jobs_db_path = ":memory:"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen"));
}

TEST(ServerStartTest, MissingConfigIsInvalidArgument) {
  auto server = Server::Start({.listen = "127.0.0.1:0", .config = nullptr});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace onsync::server
