// SyncRecord on a real server (in process) against the sandbox: caller connections and the host
// allow-list, event bodies, modes, deadlines, the in-flight cap, and shutdown while a sync waits
// on a slow upstream.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/config/config_loader.h"
#include "server/service/server.h"
#include "tests/sandbox/sandbox.h"
#include "tests/server/config/fake_secret_source.h"
#include "tests/server/service/sandbox_server_test_base.h"
#include "tests/support/process.h"

namespace onsync::server {
namespace {

using sandbox::FakeKind;
using ::testing::HasSubstr;

class SyncRecordTest : public SandboxServerTest {
 protected:
  // The example profiles plus `extra_profiles`, with `server_yaml` (a server section).
  void StartServer(const std::string& server_yaml, const std::string& extra_profiles = "") {
    ASSERT_NO_FATAL_FAILURE(StartServerWith(server_yaml, extra_profiles, {}));
  }

  grpc::Status Call(const v1::SyncRecordRequest& request, v1::SyncRecordResponse* response,
                    absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return stub_->SyncRecord(&context, request, response);
  }

  static v1::SyncRecordRequest Inline(std::string url, std::string authorization,
                                      std::string api_key) {
    v1::SyncRecordRequest request;
    v1::Profile* profile = request.mutable_inline_profile();
    profile->mutable_source()->set_table("cmdb_ci_business_app");
    profile->mutable_source()->set_key_field("name");
    (*profile->mutable_fields())["shortName"].set_from("number");
    request.mutable_trigger()->set_key("Payroll");
    request.mutable_connections()->set_servicenow_instance_url(std::move(url));
    request.mutable_connections()->set_servicenow_authorization(std::move(authorization));
    request.mutable_connections()->set_onspring_api_key(std::move(api_key));
    return request;
  }

  // Bounded polling (5 s) for the sandbox's first ServiceNow request.
  void WaitUntilServiceNowIsCalled() {
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    while (sandbox_->request_log().Entries(FakeKind::kServiceNow).empty() &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
};

constexpr char kBasicAdmin[] = "Basic YWRtaW46c2FuZGJveA==";  // admin:sandbox

TEST_F(SyncRecordTest, CallerConnectionsGoOnlyToAllowListedHosts) {
  StartServer(
      "server: {inline_sync: {allowed_servicenow_hosts: [127.0.0.1], "
      "pass_through_credentials: true}}\n");
  v1::SyncRecordResponse response;
  grpc::Status status =
      Call(Inline(sandbox_->servicenow_url(), kBasicAdmin, "sandbox-key"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().values().fields().at("shortName").string_value(), "APM0001001");

  status = Call(Inline("https://evil.example.com", kBasicAdmin, "sandbox-key"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("\"evil.example.com\" is not in"));
  // "localhost" is the same machine but not the listed name.
  const std::string localhost_url = absl::StrCat("http://localhost:", sandbox_->servicenow_port());
  EXPECT_EQ(Call(Inline(localhost_url, kBasicAdmin, "sandbox-key"), &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call(Inline(sandbox_->servicenow_url(), "", "sandbox-key"), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The caller's credentials are what ServiceNow sees.
  EXPECT_EQ(
      Call(Inline(sandbox_->servicenow_url(), "Basic d3Jvbmc6d3Jvbmc=", "sandbox-key"), &response)
          .error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(sandbox_->CallCount(FakeKind::kServiceNow, "GET /api/now/table/cmdb_ci_business_app"),
            2);
}

// A caller's clients are kept for reuse: never for another caller's credentials.
TEST_F(SyncRecordTest, EachCallersOwnCredentialsGoUpstreamEveryTime) {
  StartServer(
      "server: {inline_sync: {allowed_servicenow_hosts: [127.0.0.1], "
      "pass_through_credentials: true}}\n");
  const std::string wrong = "Basic d3Jvbmc6d3Jvbmc=";  // wrong:wrong
  v1::SyncRecordResponse response;
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(
        Call(Inline(sandbox_->servicenow_url(), kBasicAdmin, "sandbox-key"), &response).ok());
    EXPECT_EQ(
        Call(Inline(sandbox_->servicenow_url(), wrong, "sandbox-key"), &response).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
  }
  std::vector<std::string> users;
  for (const auto& entry : sandbox_->request_log().Entries(FakeKind::kServiceNow)) {
    users.push_back(entry.user);
  }
  EXPECT_THAT(users, ::testing::ElementsAre("admin", "wrong", "admin", "wrong"));
}

// Validated inline profiles are kept for reuse: a changed one is validated and used as sent.
TEST_F(SyncRecordTest, AnInlineProfileIsUsedAsSentEveryTime) {
  StartServer(
      "server: {inline_sync: {allowed_servicenow_hosts: [127.0.0.1], "
      "pass_through_credentials: true}}\n");
  v1::SyncRecordRequest request = Inline(sandbox_->servicenow_url(), kBasicAdmin, "sandbox-key");
  v1::SyncRecordResponse response;
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.result().values().fields().at("shortName").string_value(), "APM0001001");
  (*request.mutable_inline_profile()->mutable_fields())["shortName"].set_from("name");
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.result().values().fields().at("shortName").string_value(), "Payroll");
  (*request.mutable_inline_profile()->mutable_fields())["shortName"].set_from("");
  EXPECT_EQ(Call(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  (*request.mutable_inline_profile()->mutable_fields())["shortName"].set_from("number");
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.result().values().fields().at("shortName").string_value(), "APM0001001");
}

TEST_F(SyncRecordTest, WithoutPassThroughTheConfiguredConnectionIsUsed) {
  StartServer(
      "server: {inline_sync: {allowed_servicenow_hosts: [127.0.0.1, localhost], "
      "pass_through_credentials: false}}\n");
  v1::SyncRecordResponse response;
  // The caller's (wrong) credentials are ignored.
  grpc::Status status =
      Call(Inline(sandbox_->servicenow_url(), "Basic d3Jvbmc6d3Jvbmc=", "nope"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // An allowed host that is not the configured instance is refused.
  status = Call(Inline(absl::StrCat("http://localhost:", sandbox_->servicenow_port()), "", ""),
                &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("not the configured instance"));
}

TEST_F(SyncRecordTest, TriggerComesFromTheEventBodyAtTheProfilesPaths) {
  StartServer("");
  v1::SyncRecordRequest request;
  request.set_profile("business_app");
  auto& body = *request.mutable_trigger()->mutable_body()->mutable_fields();
  body["recordId"].set_number_value(1001);
  body["name"].set_string_value("Pay^Roll");
  v1::SyncRecordResponse response;
  grpc::Status status = Call(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().values().fields().at("appName").string_value(), "Pay^Roll");
  EXPECT_EQ(response.result().mode(), v1::SYNC_MODE_RESPOND);

  body.erase("name");
  status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("the event body has no \"name\" (the profile's trigger.key)"));
}

TEST_F(SyncRecordTest, ModeDefaultsToTheProfilesAndMayBeChosen) {
  StartServer("");
  v1::SyncRecordRequest request;
  request.set_profile("business_app_write_back");
  request.mutable_trigger()->set_key("Payroll");
  v1::SyncRecordResponse response;
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.result().mode(), v1::SYNC_MODE_WRITE_BACK);
  EXPECT_TRUE(response.result().written());

  request.set_mode(v1::SYNC_MODE_DRY_RUN);
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_EQ(response.result().mode(), v1::SYNC_MODE_DRY_RUN);
  EXPECT_FALSE(response.result().written());
}

TEST_F(SyncRecordTest, TheCallsDeadlineBoundsTheUpstreamCalls) {
  StartServer("");
  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(5);
  sandbox_->SetFaults(FakeKind::kServiceNow, slow);
  v1::SyncRecordRequest request;
  request.set_profile("business_app");
  request.mutable_trigger()->set_key("Payroll");
  v1::SyncRecordResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = Call(request, &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(SyncRecordTest, SyncsBeyondTheInFlightCapAreRefused) {
  StartServer("server: {max_in_flight_syncs: 1}\n");
  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(1);
  sandbox_->SetFaults(FakeKind::kServiceNow, slow);
  v1::SyncRecordRequest request;
  request.set_profile("business_app");
  request.mutable_trigger()->set_key("Payroll");

  grpc::ClientContext first_context;
  v1::SyncRecordResponse first_response;
  absl::Notification first_done;
  grpc::Status first_status;
  stub_->async()->SyncRecord(&first_context, &request, &first_response, [&](grpc::Status status) {
    first_status = std::move(status);
    first_done.Notify();
  });
  WaitUntilServiceNowIsCalled();  // The first sync now waits on ServiceNow.
  v1::SyncRecordResponse second_response;
  grpc::Status second = Call(request, &second_response);
  // Refused at once (not queued behind the first), with a retry hint in the standard details.
  EXPECT_EQ(second.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(second.error_message(), HasSubstr("server.max_in_flight_syncs"));
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(second.error_details()));
  EXPECT_EQ(details.code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(details.details_size(), 1);
  google::rpc::RetryInfo retry_info;
  ASSERT_TRUE(details.details(0).UnpackTo(&retry_info));
  EXPECT_EQ(retry_info.retry_delay().seconds(), 1);
  EXPECT_FALSE(first_done.HasBeenNotified());

  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
  // The slot is free again once the first sync has finished.
  sandbox_->SetFaults(FakeKind::kServiceNow, sandbox::FaultConfig{});
  grpc::Status third = Call(request, &second_response);
  EXPECT_TRUE(third.ok()) << third.error_message();
}

TEST_F(SyncRecordTest, RequestsOverTheMaxMessageSizeAreRefusedBeforeAnySync) {
  ServerOptions options;
  options.max_message_bytes = 16 << 10;
  ASSERT_NO_FATAL_FAILURE(StartServerWith("", "", options));
  v1::SyncRecordRequest request;
  request.set_profile("business_app");
  request.mutable_trigger()->set_key("Payroll");
  v1::SyncRecordResponse response;
  const grpc::Status fits = Call(request, &response);
  EXPECT_TRUE(fits.ok()) << fits.error_message();
  const size_t calls_after_first = sandbox_->request_log().Entries().size();

  (*request.mutable_trigger()->mutable_body()->mutable_fields())["padding"].set_string_value(
      std::string(32 << 10, 'x'));
  const grpc::Status too_big = Call(request, &response);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(sandbox_->request_log().Entries().size(), calls_after_first)
      << "nothing was sent upstream for the refused request";
}

TEST_F(SyncRecordTest, ShutdownReleasesASyncWaitingOnASlowUpstream) {
  StartServer("");
  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(20);
  sandbox_->SetFaults(FakeKind::kServiceNow, slow);
  v1::SyncRecordRequest request;
  request.set_profile("business_app");
  request.mutable_trigger()->set_key("Payroll");
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::SyncRecordResponse response;
  absl::Notification done;
  grpc::Status status;
  stub_->async()->SyncRecord(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  WaitUntilServiceNowIsCalled();
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(status.ok());
}

TEST_F(SyncRecordTest, AnAsyncProfileEnqueuesAJobThatRunsToSuccess) {
  StartServer("",
              "  async_app:\n    mode: async\n"
              "    source: {table: cmdb_ci_business_app, key_field: name}\n"
              "    target: {app_id: 300, key_field_id: 3001}\n"
              "    trigger: {key: name}\n"
              "    fields: {shortName: {from: number, to_field: 3002}}\n");
  v1::SyncRecordRequest request;
  request.set_profile("async_app");
  (*request.mutable_trigger()->mutable_body()->mutable_fields())["name"].set_string_value(
      "Payroll");
  v1::SyncRecordResponse response;
  grpc::Status status = Call(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.has_job());
  EXPECT_FALSE(response.has_result());
  EXPECT_FALSE(response.deduplicated());
  const std::string id = response.job().id();
  EXPECT_EQ(response.job().state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(response.job().trigger().key(), "Payroll");

  // The same delivery again is the same job.
  v1::SyncRecordResponse again;
  ASSERT_TRUE(Call(request, &again).ok());
  EXPECT_EQ(again.job().id(), id);
  EXPECT_TRUE(again.deduplicated());

  // WatchJob streams the job until it ends.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::WatchJobRequest watch;
  watch.set_job_id(id);
  auto reader = stub_->WatchJob(&context, watch);
  v1::WatchJobResponse update;
  v1::Job last;
  while (reader->Read(&update)) last = update.job();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(last.attempts(), 1);
  EXPECT_TRUE(last.result().written());
  EXPECT_EQ(sandbox_->CallCount(FakeKind::kOnspring, "PUT /Records"), 1);

  // An inline profile cannot be async: a job names its profile.
  request.clear_profile();
  *request.mutable_inline_profile() = [] {
    v1::Profile profile;
    profile.mutable_source()->set_table("cmdb_ci_business_app");
    profile.mutable_source()->set_key_field("name");
    profile.mutable_target()->set_app_id(300);
    profile.mutable_target()->set_key_field_id(3001);
    profile.set_mode(v1::PROFILE_MODE_ASYNC);
    (*profile.mutable_fields())["shortName"].set_from("number");
    (*profile.mutable_fields())["shortName"].set_to_field(3002);
    return profile;
  }();
  request.mutable_trigger()->set_key("Payroll");
  status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cannot be async"));
}

TEST_F(SyncRecordTest, AScheduledProfileRunsAnIncrementalBatchAtStart) {
  StartServer("",
              "  scheduled_app:\n    schedule: {every: 1h}\n"
              "    source: {table: cmdb_ci_business_app, key_field: name}\n"
              "    target: {app_id: 300, key_field_id: 3001}\n"
              "    fields: {shortName: {from: number, to_field: 3002}}\n");
  v1::Job batch;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up && batch.state() != v1::JOB_STATE_SUCCEEDED) {
    grpc::ClientContext context;
    v1::ListJobsRequest request;
    request.set_profile("scheduled_app");
    v1::ListJobsResponse response;
    ASSERT_TRUE(stub_->ListJobs(&context, request, &response).ok());
    if (response.jobs_size() > 0) batch = response.jobs(0);
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(batch.state(), v1::JOB_STATE_SUCCEEDED) << batch.DebugString();
  EXPECT_EQ(batch.kind(), v1::JOB_KIND_BATCH);
  EXPECT_TRUE(batch.batch().incremental());
  EXPECT_EQ(batch.progress().seen(), 7);  // The seed's business applications.
  EXPECT_EQ(batch.progress().updated(), 7);
  // A second batch of the profile while one is queued or running would be ALREADY_EXISTS; this
  // one has ended, so a run by hand starts.
  grpc::ClientContext context;
  v1::StartBatchSyncRequest request;
  request.set_profile("scheduled_app");
  request.mutable_batch()->set_incremental(true);
  v1::StartBatchSyncResponse response;
  ASSERT_TRUE(stub_->StartBatchSync(&context, request, &response).ok());
  EXPECT_NE(response.job().id(), batch.id());
}

}  // namespace
}  // namespace onsync::server
