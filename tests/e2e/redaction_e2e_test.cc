// Redaction end to end (issue 6): syncs with known secrets, at debug log level in both binaries,
// and none of the secrets appears in any log line, HTTP response (errors included), metric or
// job record (the job as served, and the bytes of the SQLite job store).
//
// The secrets: the ServiceNow password and Onspring API key of the configured connections (the
// sandbox is seeded with them), the same passed through by the PoC's /sync, a wrong password
// ServiceNow refuses, the gateway's API key and bearer token, a wrong API key the gateway
// refuses, and the HMAC key of signed webhooks. Each is looked for as is and base64-encoded.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gateway/auth/caller_auth.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kServiceNowPassword[] = "Pw-SN-7f3e9a1c";
constexpr char kWrongPassword[] = "Pw-WRONG-3c3c5d5d";
constexpr char kOnspringKey[] = "Key-OS-5b2d8e0f";
constexpr char kGatewayKey[] = "Key-GW-66aa77bb";
constexpr char kWrongGatewayKey[] = "Key-WRONG-88cc99dd";
constexpr char kBearerToken[] = "Tok-GW-1a2b3c4d";
constexpr char kHmacKey[] = "Hmac-GW-9e8d7c6b";

class RedactionE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    // The default seed with this test's credentials.
    std::string seed(sandbox::Sandbox::DefaultSeed());
    seed = absl::StrReplaceAll(
        seed,
        {{R"("password": "sandbox")", absl::StrCat(R"("password": ")", kServiceNowPassword, "\"")},
         {R"("key": "sandbox-key")", absl::StrCat(R"("key": ")", kOnspringKey, "\"")}});
    sandbox::SandboxOptions options;
    options.seed_json = seed;
    auto sandbox = sandbox::Sandbox::Start(std::move(options));
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);

    const std::string password_file = Temp(kServiceNowPassword);
    const std::string key_file = Temp(kOnspringKey);
    std::string yaml = ReadTextFile(SourcePath("deploy/examples/business-app.yaml"));
    yaml = absl::StrReplaceAll(yaml, {{"level: info", "level: debug"}});
    absl::StrAppend(&yaml, "servicenow:\n  instance_url: ", sandbox_->servicenow_url(),
                    "\n  auth: {basic: {username: admin, password_file: ", password_file,
                    "}}\nonspring:\n  base_url: ", sandbox_->onspring_url(),
                    "\n  api_key_file: ", key_file, "\n");
    StartServer(Temp(yaml));
    ASSERT_FALSE(HasFatalFailure());

    const std::string gateway_yaml = absl::StrCat(
        "gateway:\n  auth:\n    - api_key: {header: x-onsync-key, key_file: ", Temp(kGatewayKey),
        "}\n    - bearer: {token_file: ", Temp(kBearerToken),
        "}\n    - signed_webhook: {secret_file: ",
        Temp(absl::StrCat("whsec_", absl::Base64Escape(kHmacKey))), "}\n");
    StartGateway({"--config", Temp(gateway_yaml), "--log_level", "debug"});
  }

  void TearDown() override {
    for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
      if (!process->has_value()) continue;
      (*process)->Signal(SIGTERM);
      (void)(*process)->Wait(absl::Seconds(15));
    }
  }

  std::string Temp(const std::string& text) {
    temp_files_.push_back(WriteTempFile(text));
    return temp_files_.back();
  }

  HttpResult Call(const std::string& method, const std::string& target, const std::string& body,
                  Headers headers) {
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto result = HttpRequest("127.0.0.1", gateway_port_, method, target, body, std::move(headers));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return HttpResult{};
    seen_.push_back(absl::StrCat("response to ", method, " ", target, ": ", result->body));
    for (const auto& [name, value] : result->headers) {
      seen_.push_back(absl::StrCat("response header ", name, ": ", value));
    }
    return *std::move(result);
  }

  std::string Scrape(int port) {
    auto result = HttpRequest("127.0.0.1", port, "GET", "/metrics");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->body : "";
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  // Everything a secret must not appear in, each text labelled.
  std::vector<std::string> seen_;
};

TEST_F(RedactionE2eTest, NoSecretAppearsInLogsResponsesMetricsOrJobs) {
  const std::string outcome = R"({"recordId": 1001, "name": "Payroll"})";
  EXPECT_EQ(
      Call("POST", "/v1/outcomes/business_app", outcome, {{"x-onsync-key", kGatewayKey}}).status,
      200);
  EXPECT_EQ(Call("POST", "/v1/outcomes/business_app", outcome,
                 {{"Authorization", absl::StrCat("Bearer ", kBearerToken)}})
                .status,
            200);
  const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  EXPECT_EQ(Call("POST", "/v1/outcomes/business_app", outcome,
                 {{"webhook-id", "msg_redaction_1"},
                  {"webhook-timestamp", timestamp},
                  {"webhook-signature", gateway::StandardWebhookSignature(
                                            kHmacKey, "msg_redaction_1", timestamp, outcome)}})
                .status,
            200);
  EXPECT_EQ(Call("POST", "/v1/outcomes/business_app", outcome, {{"x-onsync-key", kWrongGatewayKey}})
                .status,
            401);

  // The PoC's route with the caller's own ServiceNow and Onspring credentials, right then wrong.
  const std::string poc = absl::StrCat(R"({"serviceNowBaseUrl": ")", sandbox_->servicenow_url(),
                                       R"(", "appName": "Payroll",
      "onspringUserAppId": 100, "onspringUserFirstNameFieldId": 1001,
      "onspringUserLastNameFieldId": 1002, "onspringUserUsernameFieldId": 1003,
      "onspringUserEmailFieldId": 1004, "onspringUserStatusFieldId": 1006,
      "onspringUserStatusValue": "6f0caae9-2f2d-5073-8d41-592671697963",
      "onspringUserTierFieldId": 1007,
      "onspringUserTierValue": "9e34f1a4-7bbb-5b84-af5b-0b954f359412",
      "onspringUserFullNameFieldId": 1005, "onspringRegTypeAppId": 200,
      "onspringRegTypeIdFieldId": 2001})");
  const auto basic = [](const std::string& password) {
    return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat("admin:", password)));
  };
  EXPECT_EQ(Call("POST", "/sync", poc,
                 {{"x-onsync-key", kGatewayKey},
                  {"Authorization", basic(kServiceNowPassword)},
                  {"x-apikey", kOnspringKey}})
                .status,
            200);
  EXPECT_EQ(Call("POST", "/sync", poc,
                 {{"x-onsync-key", kGatewayKey},
                  {"Authorization", basic(kWrongPassword)},
                  {"x-apikey", kOnspringKey}})
                .status,
            401);

  // A durable job with the configured connection, followed to its end.
  const HttpResult enqueued =
      Call("POST", "/onsync.v1.SyncService/EnqueueSync",
           R"({"profile": "business_app_write_back", "trigger": {"key": "Payroll"}})",
           {{"x-onsync-key", kGatewayKey}});
  ASSERT_EQ(enqueued.status, 200) << enqueued.body;
  rapidjson::Document job;
  job.Parse(enqueued.body.c_str());
  ASSERT_TRUE(job.IsObject() && job.HasMember("job") && job["job"].HasMember("id"));
  const std::string job_id = job["job"]["id"].GetString();
  std::string state;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(20);
       state != "JOB_STATE_SUCCEEDED" && absl::Now() < give_up;) {
    const HttpResult got =
        Call("GET", absl::StrCat("/v1/jobs/", job_id), "", {{"x-onsync-key", kGatewayKey}});
    rapidjson::Document body;
    body.Parse(got.body.c_str());
    // The Job itself, as proto3 JSON.
    if (body.IsObject() && body.HasMember("state") && body["state"].IsString()) {
      state = body["state"].GetString();
    }
    if (state != "JOB_STATE_SUCCEEDED") absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(state, "JOB_STATE_SUCCEEDED");

  seen_.push_back(absl::StrCat("gateway metrics: ", Scrape(gateway_port_)));
  seen_.push_back(absl::StrCat("server metrics: ", Scrape(admin_port_)));
  for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
    (*process)->Signal(SIGTERM);
    ASSERT_TRUE((*process)->Wait(absl::Seconds(15)).ok());
  }
  const std::string server_log = server_->Stderr();
  const std::string gateway_log = gateway_->Stderr();
  // Debug lines were written (so the check below looks at them).
  EXPECT_THAT(server_log, HasSubstr(R"("level":"debug")"));
  EXPECT_THAT(gateway_log, HasSubstr(R"("level":"debug")"));
  seen_.push_back(absl::StrCat("server log: ", server_log));
  seen_.push_back(absl::StrCat("gateway log: ", gateway_log));
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream file(jobs_db_ + suffix, std::ios::binary);
    std::ostringstream bytes;
    bytes << file.rdbuf();
    seen_.push_back(absl::StrCat("job store ", suffix, ": ", bytes.str()));
  }

  for (const char* secret : {kServiceNowPassword, kWrongPassword, kOnspringKey, kGatewayKey,
                             kWrongGatewayKey, kBearerToken, kHmacKey}) {
    for (const std::string& form : {std::string(secret), absl::Base64Escape(secret),
                                    absl::Base64Escape(absl::StrCat("admin:", secret))}) {
      for (const std::string& text : seen_) {
        EXPECT_THAT(text, Not(HasSubstr(form)))
            << "\"" << secret << "\" (as \"" << form << "\") in " << text.substr(0, 200);
      }
    }
  }
}

}  // namespace
}  // namespace onsync::testing
