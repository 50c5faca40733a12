// The REST API outcome simulator end to end: a save through the fake Onspring API fires the
// outcome, a local HTTP server (the target) receives the rendered request, and the Data Mapping
// is applied to the record from the target's response.
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/test_util.h"

namespace onsync::sandbox::testing {
namespace {

using ::onsync::testing::HttpResult;
using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(10);

// The PoC's answer for "Payroll" with the default seed's record ids.
constexpr char kPocResponse[] =
    R"({"appName":"Payroll","shortName":"APM0001001","description":"Processes employee pay",)"
    R"("installType":"On Premise","cloudModel":"Not Applicable","appOwner":1,"itOwner":2,)"
    R"("l3":3,"regulatory":"1|2|3"})";

// An HttpTransport on plain threads and the raw test client, independent of CurlTransport.
class ThreadTransport final : public clients::HttpTransport {
 public:
  ~ThreadTransport() override {
    absl::MutexLock lock(&mu_);
    for (std::thread& thread : threads_) thread.join();
  }

  void Send(clients::HttpRequest request, clients::HttpCallback done) override {
    absl::MutexLock lock(&mu_);
    ++sent_;
    threads_.emplace_back([request = std::move(request), done = std::move(done)]() mutable {
      // http://HOST:PORT/target
      const std::string rest = request.url.substr(request.url.find("://") + 3);
      const std::string authority = rest.substr(0, rest.find('/'));
      const std::string target = rest.substr(authority.size());
      const int port = std::stoi(authority.substr(authority.rfind(':') + 1));
      absl::StatusOr<onsync::testing::HttpResult> result =
          onsync::testing::HttpRequest(authority.substr(0, authority.rfind(':')), port,
                                       request.method, target, request.body, request.headers);
      if (!result.ok()) {
        std::move(done)(result.status());
        return;
      }
      clients::HttpResponse response;
      response.status = result->status;
      response.headers = result->headers;
      response.body = result->body;
      std::move(done)(std::move(response));
    });
  }

  int sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::thread> threads_;
  int sent_ = 0;
};

// The outcome's target: records requests, answers from a queue (then kPocResponse).
class Target {
 public:
  Target() {
    http::ServerOptions options;
    options.listen = "127.0.0.1:0";
    auto server =
        http::Server::Start(options, [this](http::Request request, http::Respond respond) {
          http::Response response;
          {
            absl::MutexLock lock(&mu_);
            requests_.push_back(request);
            if (!responses_.empty()) {
              response = responses_.front();
              responses_.pop_front();
            } else {
              response.body = kPocResponse;
            }
          }
          std::move(respond)(std::move(response));
        });
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", server_->port()); }
  void Enqueue(int status, std::string body) {
    absl::MutexLock lock(&mu_);
    http::Response response;
    response.status = status;
    response.body = std::move(body);
    responses_.push_back(std::move(response));
  }
  std::vector<http::Request> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  absl::Mutex mu_;
  std::vector<http::Request> requests_;
  std::deque<http::Response> responses_;
  std::unique_ptr<http::Server> server_;
};

class OutcomeSimulatorTest : public ::testing::Test {
 protected:
  void Start(bool with_outcome_url = true, bool builtin_transport = false) {
    SandboxOptions options;
    if (with_outcome_url) options.outcome_url = target_.url() + "/";
    if (!builtin_transport) options.outcome_transport = transport_;
    sandbox_ = StartSandbox(std::move(options));
    ASSERT_NE(sandbox_, nullptr);
  }

  HttpResult Save(std::string_view body) {
    return Call(sandbox_->onspring_port(), "PUT", "/Records", body, OnspringJson());
  }
  HttpResult SetSync(int record_id, const char* guid) {
    return Save(absl::StrCat(R"({"appId":300,"recordId":)", record_id, R"(,"fields":{"3011":")",
                             guid, R"("}})"));
  }
  rapidjson::Document Record(int app_id, int record_id) {
    return Json(Call(sandbox_->onspring_port(), "GET",
                     absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id), "",
                     OnspringKey())
                    .body);
  }
  void WaitForRuns(size_t count) {
    ASSERT_TRUE(sandbox_->outcomes().WaitForFinishedRuns(count, kPatience))
        << sandbox_->outcomes().ToJson();
  }

  Target target_;
  std::shared_ptr<ThreadTransport> transport_ = std::make_shared<ThreadTransport>();
  std::unique_ptr<Sandbox> sandbox_;
};

std::string HeaderOf(const http::Request& request, std::string_view name) {
  return std::string(request.Header(name).value_or("<missing>"));
}

void ExpectPocMappingApplied(const rapidjson::Value& record) {
  ASSERT_TRUE(record.IsObject());
  EXPECT_EQ(Str(*FieldValue(record, 3001)), "Payroll");
  EXPECT_EQ(Str(*FieldValue(record, 3002)), "APM0001001");
  EXPECT_EQ(Str(*FieldValue(record, 3003)), "Processes employee pay");
  EXPECT_EQ(Str(*FieldValue(record, 3004)), seed::kOnPremise);
  EXPECT_EQ(Str(*FieldValue(record, 3005)), seed::kNotApplicable);
  EXPECT_EQ(ToJson(*FieldValue(record, 3006)), "[1]");
  EXPECT_EQ(ToJson(*FieldValue(record, 3007)), "[2]");
  EXPECT_EQ(ToJson(*FieldValue(record, 3008)), "[3]");
  EXPECT_EQ(ToJson(*FieldValue(record, 3009)), "[3]");  // l3 -> L3 and L2
  EXPECT_EQ(ToJson(*FieldValue(record, 3010)), "[1,2,3]");
}

TEST_F(OutcomeSimulatorTest, PocOutcomeSendsTheTemplateAndAppliesTheMapping) {
  Start();
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  const std::vector<http::Request> requests = target_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const http::Request& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/sync");
  EXPECT_EQ(HeaderOf(request, "x-apikey"), "sandbox-key");
  EXPECT_EQ(HeaderOf(request, "authorization"), "Basic YWRtaW46c2FuZGJveA==");
  EXPECT_EQ(HeaderOf(request, "content-type"), "application/json");
  rapidjson::Document body = Json(request.body);
  ASSERT_TRUE(body.IsObject());
  EXPECT_EQ(Str(body["serviceNowBaseUrl"]), sandbox_->servicenow_url());
  EXPECT_EQ(Str(body["appName"]), "Payroll");
  EXPECT_EQ(body["onspringUserAppId"].GetInt(), 100);
  EXPECT_EQ(body["onspringUserFirstNameFieldId"].GetInt(), 1001);
  EXPECT_EQ(body["onspringUserLastNameFieldId"].GetInt(), 1002);
  EXPECT_EQ(body["onspringUserUsernameFieldId"].GetInt(), 1003);
  EXPECT_EQ(body["onspringUserEmailFieldId"].GetInt(), 1004);
  EXPECT_EQ(body["onspringUserFullNameFieldId"].GetInt(), 1005);
  EXPECT_EQ(body["onspringUserStatusFieldId"].GetInt(), 1006);
  EXPECT_EQ(Str(body["onspringUserStatusValue"]), seed::kActive);
  EXPECT_EQ(body["onspringUserTierFieldId"].GetInt(), 1007);
  EXPECT_EQ(Str(body["onspringUserTierValue"]), seed::kTier3);
  EXPECT_EQ(body["onspringRegTypeAppId"].GetInt(), 200);
  EXPECT_EQ(body["onspringRegTypeIdFieldId"].GetInt(), 2001);

  ExpectPocMappingApplied(Record(300, 1));
  const std::vector<OutcomeRun> runs = sandbox_->outcomes().Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, "succeeded");
  EXPECT_EQ(runs[0].record_id, 1);
  EXPECT_EQ(runs[0].status, 200);
  EXPECT_EQ(runs[0].mapped.size(), 10u);
  EXPECT_TRUE(runs[0].errors.empty());

  // Saving again without changing Sync does not fire; No -> Yes does.
  ASSERT_EQ(Save(R"({"appId":300,"recordId":1,"fields":{"3003":"changed"}})").status, 200);
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  ASSERT_EQ(SetSync(1, seed::kSyncNo).status, 200);
  EXPECT_EQ(sandbox_->outcomes().Runs().size(), 1u);
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(2);
  EXPECT_EQ(target_.requests().size(), 2u);
}

TEST_F(OutcomeSimulatorTest, MappingSavesDoNotFireOutcomes) {
  Start();
  // A second outcome fires when Cloud Model changes to "Not Applicable", which the PoC
  // outcome's mapping does to record 1.
  absl::StatusOr<int64_t> id = sandbox_->AddOutcome(R"({
      "name": "second", "appId": 300, "trigger": {"fieldId": 3005, "changedTo": "Not Applicable"},
      "method": "PUT", "url": "{{outcome_url}}/second"})");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(sandbox_->outcomes().Runs().size(), 1u);
  EXPECT_EQ(Str(*FieldValue(Record(300, 1), 3005)), seed::kNotApplicable);
  // A save through the API does fire it.
  ASSERT_EQ(Save(absl::StrCat(R"({"appId":300,"recordId":2,"fields":{"3005":")",
                              seed::kNotApplicable, R"("}})"))
                .status,
            200);
  WaitForRuns(2);
  const std::vector<http::Request> requests = target_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].method, "PUT");
  EXPECT_EQ(requests[1].path, "/second");
}

TEST_F(OutcomeSimulatorTest, TokensAreEscapedPerPlace) {
  Start();
  sandbox_->outcomes().Reset({});
  absl::StatusOr<int64_t> id = sandbox_->AddOutcome(R"({
      "name": "tokens", "appId": 300,
      "trigger": {"field": "Sync with ServiceNow", "changedTo": "Yes"},
      "url": "{{outcome_url}}/apps/{:Name}?recordId={:Record Id}",
      "headers": [{"name": "X-Name", "value": "{:Name}"}],
      "auth": {"type": "api_key", "header": "x-api-key", "value": "k-123"},
      "body": "{\"name\": \"{:Name}\", \"install\": \"{:Install Type}\", \"none\": \"{:No Such Field}\", \"sync\": \"{:Sync with ServiceNow}\"}"})");
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_EQ(
      Save(absl::StrCat(R"({"appId":300,"recordId":3,"fields":{"3001":"Say \"hi\" \\ Pay^Roll",)",
                        R"("3004":")", seed::kCloud, R"(","3011":")", seed::kSyncYes, R"("}})"))
          .status,
      200);
  WaitForRuns(1);
  const std::vector<http::Request> requests = target_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/apps/Say%20%22hi%22%20%5C%20Pay%5ERoll");
  EXPECT_EQ(requests[0].query, "recordId=1003");  // the auto-number, not the record id
  EXPECT_EQ(HeaderOf(requests[0], "x-name"), "Say \"hi\" \\ Pay^Roll");
  EXPECT_EQ(HeaderOf(requests[0], "x-api-key"), "k-123");
  rapidjson::Document body = Json(requests[0].body);
  ASSERT_TRUE(body.IsObject()) << requests[0].body;
  EXPECT_EQ(Str(body["name"]), "Say \"hi\" \\ Pay^Roll");
  EXPECT_EQ(Str(body["install"]), "Cloud");  // list values render as names
  EXPECT_EQ(Str(body["none"]), "");
  EXPECT_EQ(Str(body["sync"]), "Yes");
  // The run log masks the credential.
  EXPECT_THAT(sandbox_->outcomes().ToJson(), ::testing::Not(HasSubstr("k-123")));
}

TEST_F(OutcomeSimulatorTest, SkippedWithoutOutcomeUrl) {
  Start(/*with_outcome_url=*/false);
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  const std::vector<OutcomeRun> runs = sandbox_->outcomes().Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, "skipped");
  EXPECT_THAT(runs[0].errors, ::testing::ElementsAre(HasSubstr("--outcome-url")));
  EXPECT_EQ(transport_->sent(), 0);
  EXPECT_EQ(FieldValue(Record(300, 1), 3002), nullptr);
}

TEST_F(OutcomeSimulatorTest, RetriesThenSucceeds) {
  Start();
  sandbox_->outcomes().Reset({});
  ASSERT_TRUE(sandbox_
                  ->AddOutcome(R"({"appId": 300, "trigger": {"fieldId": 3011, "changedTo": "Yes"},
                                  "url": "{{outcome_url}}/sync", "retries": 2, "retryDelayMs": 20,
                                  "dataMapping": [{"source": "shortName", "field": "Application Short Name"}]})")
                  .ok());
  target_.Enqueue(503, R"({"error":"busy"})");
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  const std::vector<OutcomeRun> runs = sandbox_->outcomes().Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state, "succeeded");
  EXPECT_EQ(runs[0].attempts, 2);
  EXPECT_THAT(runs[0].errors, ::testing::ElementsAre(HasSubstr("HTTP 503")));
  EXPECT_EQ(target_.requests().size(), 2u);
  EXPECT_EQ(Str(*FieldValue(Record(300, 1), 3002)), "APM0001001");
}

TEST_F(OutcomeSimulatorTest, FailuresAndBadResponsesAreRecorded) {
  Start();
  target_.Enqueue(500, "oops");
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  std::vector<OutcomeRun> runs = sandbox_->outcomes().Runs();
  EXPECT_EQ(runs[0].state, "failed");
  EXPECT_EQ(runs[0].status, 500);
  EXPECT_THAT(runs[0].errors, ::testing::ElementsAre(HasSubstr("HTTP 500")));
  EXPECT_EQ(FieldValue(Record(300, 1), 3002), nullptr);
  // A 2xx with values that do not fit: the rest is still mapped, the misfits are listed.
  target_.Enqueue(
      200, R"({"appName":"Payroll","shortName":"S","installType":"Mainframe","appOwner":999})");
  ASSERT_EQ(SetSync(2, seed::kSyncYes).status, 200);
  WaitForRuns(2);
  runs = sandbox_->outcomes().Runs();
  EXPECT_EQ(runs[1].state, "succeeded");
  EXPECT_THAT(runs[1].errors, ::testing::Contains(HasSubstr("Mainframe")));
  EXPECT_THAT(runs[1].errors, ::testing::Contains(HasSubstr("record 999 does not exist")));
  EXPECT_THAT(runs[1].errors, ::testing::Contains(HasSubstr("regulatory: not in the response")));
  EXPECT_EQ(Str(*FieldValue(Record(300, 2), 3002)), "S");
}

TEST_F(OutcomeSimulatorTest, AdminRoutes) {
  Start();
  const int port = sandbox_->onspring_port();
  HttpResult result = Call(port, "POST", "/__admin/outcomes",
                           R"({"appId":300,"trigger":{"fieldId":3004,"changedTo":"Cloud"},)"
                           R"("url":"{{outcome_url}}/cloud"})");
  EXPECT_EQ(result.status, 201) << result.body;
  EXPECT_EQ(result.body, R"({"id":2})");
  result = Call(port, "POST", "/__admin/outcomes", R"({"appId":300,"trigger":{"field":"Nope"}})");
  EXPECT_EQ(result.status, 400);
  EXPECT_THAT(result.body, HasSubstr("no field named"));
  ASSERT_EQ(
      Save(absl::StrCat(R"({"appId":300,"recordId":4,"fields":{"3004":")", seed::kCloud, R"("}})"))
          .status,
      200);
  WaitForRuns(1);
  rapidjson::Document log = Json(Call(port, "GET", "/__admin/outcomes").body);
  ASSERT_EQ(log["outcomes"].Size(), 2u);
  EXPECT_EQ(Str(log["outcomes"][0]["headers"][0]["value"]), "[REDACTED]");
  ASSERT_EQ(log["runs"].Size(), 1u);
  EXPECT_EQ(Str(log["runs"][0]["request"]["url"]), target_.url() + "/cloud");
  EXPECT_EQ(log["runs"][0]["recordId"].GetInt(), 4);
  EXPECT_EQ(Call(port, "DELETE", "/__admin/outcomes").status, 200);
  EXPECT_EQ(Json(Call(port, "GET", "/__admin/outcomes").body)["outcomes"].Size(), 0u);
}

TEST_F(OutcomeSimulatorTest, BuiltInTransport) {
  Start(/*with_outcome_url=*/true, /*builtin_transport=*/true);
  ASSERT_EQ(SetSync(1, seed::kSyncYes).status, 200);
  WaitForRuns(1);
  ASSERT_EQ(target_.requests().size(), 1u);
  EXPECT_EQ(sandbox_->outcomes().Runs()[0].state, "succeeded") << sandbox_->outcomes().ToJson();
  ExpectPocMappingApplied(Record(300, 1));
}

}  // namespace
}  // namespace onsync::sandbox::testing
