// The sync end to end, as Onspring's outcome and other callers see it: the real onsync-server and
// onsync-gateway binaries against the sandbox (a fake ServiceNow and Onspring, in process), with
// deploy/examples/business-app.yaml plus connections to the sandbox. Every call is real HTTP or
// gRPC on loopback; every wait is bounded.
//
// Isolation: the sandbox is started once per suite and Reset() before every test, so each test
// starts from the default seed. onsync-server and onsync-gateway are started afresh for every test
// instead: the server caches resolved record ids (and list ids) for 5 minutes per Onspring tenant,
// and after a Reset the sandbox hands out the seed's ids again (a created "Abel Tuter" is record 4
// in every test), so a server kept across tests would answer from a cache that no longer matches
// the data (e.g. an l3 id whose user record does not exist, and no create). Restarting the two
// processes costs a fraction of a second and keeps every test independent of the others' order.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {
namespace {

using sandbox::FakeKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

using Headers = std::vector<std::pair<std::string, std::string>>;
using Sandbox = sandbox::Sandbox;

constexpr char kBasicAdmin[] = "Basic YWRtaW46c2FuZGJveA==";  // admin:sandbox
constexpr char kApiKey[] = "sandbox-key";
constexpr char kActive[] = "6f0caae9-2f2d-5073-8d41-592671697963";
constexpr char kTier3[] = "9e34f1a4-7bbb-5b84-af5b-0b954f359412";
constexpr char kSyncYes[] = "3c71373c-969d-51c7-9722-d93be55563ee";
// List value GUIDs of the seed's Install Type (3401) and Cloud Model (3501) lists.
constexpr char kOnPremise[] = "bed65a51-c9b2-5606-ad76-874966e28b12";
constexpr char kCloud[] = "5bf433f9-1af5-59d4-867c-f1655f0cde2e";
constexpr char kHybrid[] = "6f053efe-e227-578e-bc78-11c2151509e3";
constexpr char kPaaS[] = "ecd07a1c-9623-5397-a62a-8bd1bcd0d196";
constexpr char kSaaS[] = "a20ff618-3519-556b-8db1-0f1e6d5de40e";
constexpr char kNotApplicable[] = "1dbfd98d-3f5d-523f-a4f4-4501a626c98c";

constexpr char kSnAppsRoute[] = "GET /api/now/table/cmdb_ci_business_app";
constexpr char kPutRecords[] = "PUT /Records";

// The Data Mapping of the PoC's outcome (scripts/demo-loop).
constexpr char kDataMapping[] =
    R"([{"source": "appName", "fieldId": 3001}, {"source": "shortName", "fieldId": 3002},
        {"source": "description", "fieldId": 3003}, {"source": "installType", "fieldId": 3004},
        {"source": "cloudModel", "fieldId": 3005}, {"source": "appOwner", "fieldId": 3006},
        {"source": "itOwner", "fieldId": 3007}, {"source": "l3", "fieldId": 3008},
        {"source": "l3", "fieldId": 3009}, {"source": "regulatory", "fieldId": 3010}])";

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  EXPECT_FALSE(document.HasParseError()) << "not JSON: " << text;
  return document;
}

// The compact JSON text of a value ("\"Abel\"", "[1,2]", "4", "null").
std::string JsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

// The JSON text of `object[key]`, or "<missing>".
std::string Member(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key)) return "<missing>";
  return JsonText(object[key]);
}

// `object[key]` as a number (NaN when missing or not a number).
double Number(const rapidjson::Value& object, const char* key) {
  if (!object.IsObject() || !object.HasMember(key) || !object[key].IsNumber()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return object[key].GetDouble();
}

// The member names of a JSON object, in order.
std::vector<std::string> Keys(const rapidjson::Value& object) {
  std::vector<std::string> keys;
  if (!object.IsObject()) return keys;
  for (const auto& member : object.GetObject()) keys.emplace_back(member.name.GetString());
  return keys;
}

// Faults that fail the next `count` calls (-1: all) with `status`, without Retry-After.
sandbox::FaultConfig Failing(int64_t count, int status) {
  sandbox::FaultConfig faults;
  faults.fail_next = count;
  faults.fail_status = status;
  faults.retry_after_s = 0;
  return faults;
}

// One Onspring record as the API reads it (Raw format): field id -> JSON text of the value.
struct OsRecord {
  int64_t record_id = 0;
  std::map<int, std::string> fields;
};

OsRecord RecordFromJson(const rapidjson::Value& item) {
  OsRecord record;
  record.record_id = item["recordId"].GetInt64();
  for (const auto& field : item["fieldData"].GetArray()) {
    record.fields[field["fieldId"].GetInt()] = JsonText(field["value"]);
  }
  return record;
}

// A JSON string literal of `text` (quotes and backslashes escaped).
std::string Quoted(const std::string& text) {
  rapidjson::Value value(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return JsonText(value);
}

class SyncE2eTest : public E2eTest {
 protected:
  static void SetUpTestSuite() {
    auto started = sandbox::Sandbox::Start({});
    ASSERT_TRUE(started.ok()) << started.status();
    sandbox_ = started->release();
    const std::string yaml = WithSandboxConnections(
        ReadTextFile(SourcePath("deploy/examples/business-app.yaml")), sandbox_->servicenow_url(),
        sandbox_->onspring_url(), *secret_files_);
    config_path_ = new std::string(WriteTempFile(yaml));
  }

  static void TearDownTestSuite() {
    delete sandbox_;
    sandbox_ = nullptr;
    for (const std::string& path : *secret_files_) std::remove(path.c_str());
    secret_files_->clear();
    if (config_path_ != nullptr) std::remove(config_path_->c_str());
    delete config_path_;
    config_path_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(sandbox_, nullptr) << "the sandbox did not start";
    ASSERT_NE(config_path_, nullptr);
    ASSERT_TRUE(sandbox_->Reset().ok());
    StartServer(*config_path_);
    if (HasFatalFailure()) return;
    StartGateway();
  }

  void TearDown() override {
    // Both stop cleanly on SIGTERM (under the sanitizers this also reports leaks as a failure).
    for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
      if (!process->has_value()) continue;
      (*process)->Signal(SIGTERM);
      const absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(15));
      EXPECT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(code.value_or(0), 0) << (*process)->Stderr();
    }
    if (!HasFailure()) return;
    if (server_.has_value()) std::cerr << "onsync-server stderr:\n" << server_->Stderr();
    if (gateway_.has_value()) std::cerr << "onsync-gateway stderr:\n" << gateway_->Stderr();
  }

  Sandbox& box() { return *sandbox_; }

  // The PoC's body (scripts/run.sh) for `app_name`, aimed at `servicenow_url` (default: the
  // sandbox's ServiceNow).
  std::string PocBody(const std::string& app_name, std::string servicenow_url = "") const {
    if (servicenow_url.empty()) servicenow_url = sandbox_->servicenow_url();
    return absl::StrCat(R"({"serviceNowBaseUrl": )", Quoted(servicenow_url), R"(, "appName": )",
                        Quoted(app_name),
                        R"(, "onspringUserAppId": 100, "onspringUserFirstNameFieldId": 1001,
           "onspringUserLastNameFieldId": 1002, "onspringUserUsernameFieldId": 1003,
           "onspringUserEmailFieldId": 1004, "onspringUserStatusFieldId": 1006,
           "onspringUserStatusValue": "6f0caae9-2f2d-5073-8d41-592671697963",
           "onspringUserTierFieldId": 1007,
           "onspringUserTierValue": "9e34f1a4-7bbb-5b84-af5b-0b954f359412",
           "onspringUserFullNameFieldId": 1005, "onspringRegTypeAppId": 200,
           "onspringRegTypeIdFieldId": 2001})");
  }

  // POST /sync through the gateway with the PoC's credentials.
  HttpResult PostSync(const std::string& body, Headers extra = {}) {
    Headers headers = {{"Content-Type", "application/json"},
                       {"Authorization", kBasicAdmin},
                       {"x-apikey", kApiKey}};
    headers.insert(headers.end(), extra.begin(), extra.end());
    auto result = HttpRequest("127.0.0.1", gateway_port_, "POST", "/sync", body, headers);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(HttpResult{});
  }

  // POST /v1/outcomes/{target} (target may carry a query) with an outcome's body.
  HttpResult PostOutcome(const std::string& target, const std::string& body) {
    auto result =
        HttpRequest("127.0.0.1", gateway_port_, "POST", absl::StrCat("/v1/outcomes/", target), body,
                    {{"Content-Type", "application/json"}});
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(HttpResult{});
  }

  // A call to the sandbox's Onspring API with the API key.
  HttpResult Onspring(std::string_view method, std::string_view target,
                      const std::string& body = "") {
    Headers headers = {{"X-ApiKey", kApiKey}};
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto result =
        HttpRequest("127.0.0.1", sandbox_->onspring_port(), method, target, body, headers);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(HttpResult{});
  }

  // The records of an Onspring app matching `filter`, read through POST /Records/Query.
  std::vector<OsRecord> Query(int app_id, const std::string& filter) {
    const HttpResult result =
        Onspring("POST", "/Records/Query",
                 absl::StrCat(R"({"appId": )", app_id, R"(, "filter": )", Quoted(filter), "}"));
    EXPECT_EQ(result.status, 200) << result.body;
    std::vector<OsRecord> records;
    const rapidjson::Document page = ParseJson(result.body);
    if (!page.IsObject() || !page.HasMember("items")) return records;
    for (const auto& item : page["items"].GetArray()) records.push_back(RecordFromJson(item));
    return records;
  }

  // The users whose Full Name (1005) is `name`.
  std::vector<OsRecord> Users(const std::string& name) {
    std::string escaped;
    for (char c : name) escaped += c == '\'' ? std::string("''") : std::string(1, c);
    return Query(100, absl::StrCat("1005 eq '", escaped, "'"));
  }

  // The record id of the one user named `name` (0 and a failure when there is not exactly one).
  int64_t UserId(const std::string& name) {
    const std::vector<OsRecord> users = Users(name);
    EXPECT_EQ(users.size(), 1u) << name;
    return users.size() == 1 ? users[0].record_id : 0;
  }

  OsRecord GetRecord(int app_id, int64_t record_id) {
    const HttpResult result =
        Onspring("GET", absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id));
    EXPECT_EQ(result.status, 200) << result.body;
    const rapidjson::Document item = ParseJson(result.body);
    if (!item.IsObject() || !item.HasMember("fieldData")) return {};
    return RecordFromJson(item);
  }

  int64_t ServiceNowCalls() {
    int64_t total = 0;
    for (const auto& [route, count] : sandbox_->request_log().Counts(FakeKind::kServiceNow)) {
      total += count;
    }
    return total;
  }

  // The loop as an Onspring user sees it (scripts/demo-loop): `outcome_json` is the only outcome;
  // saving "Sync with ServiceNow" = Yes on Business Applications record `record_id` through the
  // Onspring API fires it; waits (bounded) for the run and returns it.
  sandbox::OutcomeRun RunLoop(const std::string& outcome_json, int64_t record_id) {
    box().outcomes().Reset({});  // the seed's PoC outcome points at {{outcome_url}}, unset here
    auto added = box().AddOutcome(outcome_json);
    EXPECT_TRUE(added.ok()) << added.status();
    const HttpResult saved =
        Onspring("PUT", "/Records",
                 absl::StrCat(R"({"appId": 300, "recordId": )", record_id,
                              R"(, "fields": {"3011": ")", kSyncYes, R"("}})"));
    EXPECT_THAT(saved.status, ::testing::AnyOf(200, 201)) << saved.body;
    EXPECT_TRUE(box().outcomes().WaitForFinishedRuns(1, absl::Seconds(10)));
    const std::vector<sandbox::OutcomeRun> runs = box().outcomes().Runs();
    EXPECT_EQ(runs.size(), 1u);
    if (runs.empty()) return {};
    const sandbox::OutcomeRun& run = runs.back();
    EXPECT_EQ(run.state, "succeeded")
        << run.status << " " << run.response_body << " " << ::testing::PrintToString(run.errors);
    EXPECT_EQ(run.status, 200) << run.response_body;
    EXPECT_EQ(run.record_id, record_id);
    return run;
  }

  std::string OutcomeJson(const std::string& name, const std::string& url, const std::string& body,
                          const std::string& extra_members, const std::string& data_mapping) {
    return absl::StrCat(R"({"name": )", Quoted(name),
                        R"(, "appId": 300, "status": "Active", "method": "POST",
            "trigger": {"field": "Sync with ServiceNow", "changedTo": "Yes"},
            "retries": 0, "timeoutMs": 30000, "bodyEscaping": "json", "url": )",
                        Quoted(url), R"(, "body": )", Quoted(body), extra_members,
                        R"(, "dataMapping": )", data_mapping, "}");
  }

  std::string GatewayUrl() const { return absl::StrCat("http://127.0.0.1:", gateway_port_); }

  static Sandbox* sandbox_;
  static std::string* config_path_;
  static std::vector<std::string>* secret_files_;
};

Sandbox* SyncE2eTest::sandbox_ = nullptr;
std::string* SyncE2eTest::config_path_ = nullptr;
std::vector<std::string>* SyncE2eTest::secret_files_ = new std::vector<std::string>();

// 1. The PoC's outcome, pointed at onsync: exactly the PoC's answer, and the missing L3 user
// created with the PoC's rules.
TEST_F(SyncE2eTest, PocRouteAnswersThePocObjectAndCreatesTheMissingUser) {
  const HttpResult result = PostSync(PocBody("Payroll"));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_THAT(result.Header("content-type").value_or(""), HasSubstr("application/json"));
  EXPECT_EQ(result.Header("onsync-warnings").value_or("<none>"), "<none>");
  // Fred Jones and Beth Anglin are users 1 and 2; Abel Tuter is missing and becomes user 4.
  EXPECT_EQ(result.body,
            R"({"appName":"Payroll","shortName":"APM0001001",)"
            R"("description":"Processes employee pay and deductions","installType":"On Premise",)"
            R"("cloudModel":"Not Applicable","appOwner":1,"itOwner":2,"l3":4,)"
            R"("regulatory":"1|2|3"})");
  const rapidjson::Document body = ParseJson(result.body);
  ASSERT_TRUE(body.IsObject());
  EXPECT_THAT(Keys(body), ElementsAre("appName", "shortName", "description", "installType",
                                      "cloudModel", "appOwner", "itOwner", "l3", "regulatory"));
  for (const char* key :
       {"appName", "shortName", "description", "installType", "cloudModel", "regulatory"}) {
    EXPECT_TRUE(body[key].IsString()) << key;
  }
  for (const char* key : {"appOwner", "itOwner", "l3"}) EXPECT_TRUE(body[key].IsInt()) << key;

  const std::vector<OsRecord> users = Users("Abel Tuter");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].record_id, body["l3"].GetInt64());
  EXPECT_EQ(users[0].fields.at(1001), R"("Abel")");
  EXPECT_EQ(users[0].fields.at(1002), R"("Tuter")");
  EXPECT_EQ(users[0].fields.at(1003), R"("abel.tuter")");
  EXPECT_EQ(users[0].fields.at(1004), R"("abel.tuter@example.com")");
  EXPECT_EQ(users[0].fields.at(1005), R"("Abel Tuter")");
  EXPECT_EQ(users[0].fields.at(1006), Quoted(kActive));
  EXPECT_EQ(users[0].fields.at(1007), Quoted(kTier3));
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 1);
  // The caller's credentials went to ServiceNow (Basic admin), once.
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 1);
  for (const auto& entry : box().request_log().Entries(FakeKind::kServiceNow)) {
    EXPECT_EQ(entry.auth, "basic");
    EXPECT_EQ(entry.user, "admin");
  }
}

// 2. A profile in respond mode: the flat values, keys sorted, l2 included.
TEST_F(SyncE2eTest, OutcomeRouteAnswersTheFlatValues) {
  const HttpResult result = PostOutcome("business_app", R"({"recordId": 1001, "name": "Payroll"})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_THAT(result.Header("content-type").value_or(""), HasSubstr("application/json"));
  EXPECT_EQ(result.body,
            R"({"appName":"Payroll","appOwner":1,"cloudModel":"Not Applicable",)"
            R"("description":"Processes employee pay and deductions","installType":"On Premise",)"
            R"("itOwner":2,"l2":4,"l3":4,"regulatory":"1|2|3","shortName":"APM0001001"})");
  const rapidjson::Document body = ParseJson(result.body);
  ASSERT_TRUE(body.IsObject());
  EXPECT_THAT(Keys(body),
              ElementsAre("appName", "appOwner", "cloudModel", "description", "installType",
                          "itOwner", "l2", "l3", "regulatory", "shortName"));
  for (const auto& member : body.GetObject()) EXPECT_FALSE(member.value.IsObject());
  // l2 and l3 are the same missing user: created once.
  EXPECT_EQ(UserId("Abel Tuter"), 4);
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 1);
}

// The value of the sample `series` (name and labels exactly as printed) in a scrape; 0 when absent.
double SampleValue(const std::string& text, const std::string& series) {
  const std::string prefix = absl::StrCat("\n", series, " ");
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stod(text.substr(at + prefix.size(), text.find('\n', at + 1) - at - prefix.size()));
}

// Scrapes of both binaries move with one event through the outcome route.
TEST_F(SyncE2eTest, MetricsOfBothBinariesMoveWithAnEvent) {
  auto scrape = [](int port) {
    auto result = HttpRequest("127.0.0.1", port, "GET", "/metrics");
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return std::string();
    EXPECT_EQ(result->status, 200);
    return result->body;
  };
  const std::string kHttp =
      R"(http_requests_total{method="POST",route="/v1/outcomes",status="200"})";
  const std::string kGrpc = R"(grpc_server_handled_total{grpc_code="OK",grpc_method="SyncRecord",)"
                            R"(grpc_service="onsync.v1.SyncService"})";
  const std::string kRead =
      R"(upstream_requests_total{operation="table_read",status="2xx",system="servicenow"})";
  const std::string gateway_before = scrape(gateway_port_);
  const std::string server_before = scrape(admin_port_);

  const HttpResult result = PostOutcome("business_app", R"({"recordId": 1001, "name": "Payroll"})");
  ASSERT_EQ(result.status, 200) << result.body;

  const std::string gateway_after = scrape(gateway_port_);
  const std::string server_after = scrape(admin_port_);
  EXPECT_EQ(SampleValue(gateway_after, kHttp), SampleValue(gateway_before, kHttp) + 1)
      << gateway_after;
  EXPECT_EQ(SampleValue(server_after, kGrpc), SampleValue(server_before, kGrpc) + 1)
      << server_after;
  EXPECT_EQ(SampleValue(server_after, kRead), SampleValue(server_before, kRead) + 1)
      << server_after;
  EXPECT_GT(SampleValue(server_after, "sync_records_created_total"),
            SampleValue(server_before, "sync_records_created_total"));
  for (const std::string* text : {&gateway_after, &server_after}) {
    EXPECT_THAT(*text, Not(HasSubstr("Payroll")));
    EXPECT_THAT(*text, Not(HasSubstr("business_app")));
  }
}

// Each line of a process's stderr, parsed (a test failure for a line that is not a JSON object
// with time, level, component and message).
std::vector<rapidjson::Document> JsonLogLines(const std::string& text) {
  std::vector<rapidjson::Document> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    rapidjson::Document document;
    document.Parse(line.data(), line.size());
    EXPECT_TRUE(!document.HasParseError() && document.IsObject()) << line;
    if (document.HasParseError() || !document.IsObject()) continue;
    for (const char* key : {"time", "level", "component", "message"}) {
      EXPECT_TRUE(document.HasMember(key) && document[key].IsString()) << key << " in " << line;
    }
    lines.push_back(std::move(document));
  }
  return lines;
}

std::string LogField(const rapidjson::Value& line, const char* name) {
  return line.HasMember(name) && line[name].IsString() ? line[name].GetString() : "";
}

// The trace ids of the sandbox's logged requests, in order ("" for a request without a valid
// traceparent).
std::vector<std::string> UpstreamTraceIds(Sandbox& box) {
  std::vector<std::string> ids;
  for (const sandbox::RequestLogEntry& entry : box.request_log().Entries()) {
    std::string id;
    for (const auto& [name, value] : entry.headers) {
      if (name == "traceparent" && value.size() == 55 && value.substr(0, 3) == "00-") {
        id = value.substr(3, 32);
      }
    }
    ids.push_back(id);
  }
  return ids;
}

// W3C trace context: the caller's trace (or one the gateway starts) reaches every upstream request,
// and every log line of the event (gateway access line, server sync line, each upstream call at
// debug level) names it; every line of both processes is a JSON object.
TEST_F(SyncE2eTest, TraceContextReachesEveryUpstreamRequestAndLogLineOfTheEvent) {
  // Restart both at debug level (the suite's config logs at info).
  for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
    (*process)->Signal(SIGTERM);
    ASSERT_TRUE((*process)->Wait(absl::Seconds(15)).ok());
  }
  std::string yaml = ReadTextFile(*config_path_);
  const size_t level = yaml.find("level: info");
  ASSERT_NE(level, std::string::npos);
  yaml.replace(level, std::string("level: info").size(), "level: debug");
  const std::string debug_config = WriteTempFile(yaml);
  temp_files_.push_back(debug_config);
  StartServer(debug_config);
  ASSERT_FALSE(HasFatalFailure());
  StartGateway({"--log_level", "debug"});
  ASSERT_FALSE(HasFatalFailure());
  box().request_log().Clear();

  constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string caller_traceparent = absl::StrCat("00-", kTraceId, "-00f067aa0ba902b7-01");
  auto traced = HttpRequest("127.0.0.1", gateway_port_, "POST", "/v1/outcomes/business_app",
                            R"({"recordId": 1001, "name": "Payroll"})",
                            {{"Content-Type", "application/json"},
                             {"traceparent", caller_traceparent},
                             {"x-request-id", "evt-trace-1"}});
  ASSERT_TRUE(traced.ok()) << traced.status();
  ASSERT_EQ(traced->status, 200) << traced->body;
  const std::vector<std::string> first_ids = UpstreamTraceIds(box());
  // The SN read, the users and regulations queries, and the save of the missing user.
  ASSERT_EQ(first_ids.size(), 4u);
  for (const std::string& id : first_ids) EXPECT_EQ(id, kTraceId);
  for (const sandbox::RequestLogEntry& entry : box().request_log().Entries()) {
    for (const auto& [name, value] : entry.headers) {
      // Each hop has its own parent id: never the caller's.
      if (name == "traceparent") {
        EXPECT_NE(value, caller_traceparent);
      }
    }
  }

  // No traceparent: the gateway starts a trace.
  box().request_log().Clear();
  ASSERT_EQ(PostSync(PocBody("Payroll")).status, 200);
  const std::vector<std::string> second_ids = UpstreamTraceIds(box());
  ASSERT_FALSE(second_ids.empty());
  const std::string started = second_ids.front();
  EXPECT_THAT(started, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(started, kTraceId);
  for (const std::string& id : second_ids) EXPECT_EQ(id, started);

  // Stopped, so that every line is written.
  for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
    (*process)->Signal(SIGTERM);
    ASSERT_TRUE((*process)->Wait(absl::Seconds(15)).ok());
  }
  const std::vector<rapidjson::Document> gateway_lines = JsonLogLines(gateway_->Stderr());
  const std::vector<rapidjson::Document> server_lines = JsonLogLines(server_->Stderr());
  gateway_.reset();
  server_.reset();

  const auto lines_of = [](const std::vector<rapidjson::Document>& lines, const std::string& id) {
    std::vector<const rapidjson::Document*> of_trace;
    for (const rapidjson::Document& line : lines) {
      if (LogField(line, "trace_id") == id) of_trace.push_back(&line);
    }
    return of_trace;
  };
  // The gateway's access line of each event.
  const auto gateway_first = lines_of(gateway_lines, kTraceId);
  ASSERT_EQ(gateway_first.size(), 1u);
  EXPECT_EQ(LogField(*gateway_first[0], "component"), "gateway");
  EXPECT_EQ(LogField(*gateway_first[0], "request_id"), "evt-trace-1");
  EXPECT_THAT(LogField(*gateway_first[0], "message"),
              HasSubstr("POST /v1/outcomes/business_app -> 200"));
  const auto gateway_second = lines_of(gateway_lines, started);
  ASSERT_EQ(gateway_second.size(), 1u);
  EXPECT_THAT(LogField(*gateway_second[0], "message"), HasSubstr("POST /sync -> 200"));

  // The server's lines: one per upstream call and the sync's own line, all with the trace id.
  for (const auto& [id, upstream_calls, request_id] :
       {std::tuple(std::string(kTraceId), first_ids.size(), std::string("evt-trace-1")),
        std::tuple(started, second_ids.size(), std::string())}) {
    const auto server_of_trace = lines_of(server_lines, id);
    size_t upstream_lines = 0;
    size_t sync_lines = 0;
    for (const rapidjson::Document* line : server_of_trace) {
      EXPECT_EQ(LogField(*line, "component"), "server");
      const std::string message = LogField(*line, "message");
      if (absl::StartsWith(message, "upstream ")) ++upstream_lines;
      if (absl::StartsWith(message, "sync ok: profile=")) {
        ++sync_lines;
        EXPECT_EQ(LogField(*line, "request_id"), request_id);
      }
    }
    EXPECT_EQ(upstream_lines, upstream_calls) << id;
    EXPECT_EQ(sync_lines, 1u) << id;
    EXPECT_EQ(server_of_trace.size(), upstream_lines + sync_lines) << id;
  }
  // Every upstream and sync line belongs to one of the two events.
  for (const rapidjson::Document& line : server_lines) {
    const std::string message = LogField(line, "message");
    if (absl::StartsWith(message, "upstream ") || absl::StartsWith(message, "sync ok")) {
      EXPECT_THAT(LogField(line, "trace_id"), ::testing::AnyOf(kTraceId, started)) << message;
    }
  }
}

// The gateway binary takes its caller auth from the config; without any it serves loopback only.
TEST_F(SyncE2eTest, GatewayWithACallerAuthConfigRefusesCallersWithoutTheToken) {
  (*gateway_).Signal(SIGTERM);
  ASSERT_TRUE(gateway_->Wait(absl::Seconds(15)).ok());
  const std::string token_file = WriteTempFile("e2e-t0ken\n");
  temp_files_.push_back(token_file);
  const std::string config = WriteTempFile(
      absl::StrCat(ReadTextFile(*config_path_),
                   "gateway:\n  auth:\n    - bearer: {token_file: ", token_file, "}\n"));
  temp_files_.push_back(config);
  StartGateway({"--config", config});
  ASSERT_FALSE(HasFatalFailure());

  const std::string body = R"({"recordId": 1001, "name": "Payroll"})";
  auto refused = HttpRequest("127.0.0.1", gateway_port_, "POST", "/v1/outcomes/business_app", body,
                             {{"Content-Type", "application/json"}});
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(refused->Header("www-authenticate").value_or(""), R"(Bearer realm="onsync")");
  EXPECT_EQ(box().request_log().Entries().size(), 0u);
  auto admitted =
      HttpRequest("127.0.0.1", gateway_port_, "POST", "/v1/outcomes/business_app", body,
                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer e2e-t0ken"}});
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->status, 200) << admitted->body;

  // No caller auth on a non-loopback address: refused at start.
  auto open = ChildProcess::Start({BinaryPath("onsync-gateway"), "--listen", "0.0.0.0:0",
                                   "--server", absl::StrCat("127.0.0.1:", server_port_)});
  ASSERT_TRUE(open.ok()) << open.status();
  const absl::StatusOr<int> code = open->Wait(absl::Seconds(15));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 2);
  EXPECT_THAT(open->Stderr(), HasSubstr("refusing to serve 0.0.0.0:0 without caller auth"));
}

// 3. 64 concurrent events for one application with two missing owners.
TEST_F(SyncE2eTest, ConcurrentEventsCreateEachMissingUserOnce) {
  constexpr int kEvents = 64;
  // Legacy CRM: app owner Charlie Day and IT owner Abel Tuter are missing; L3 is Fred Jones.
  const std::string body = PocBody("Legacy CRM");
  std::vector<absl::StatusOr<HttpResult>> results(kEvents, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < kEvents; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < kEvents) std::this_thread::yield();  // start together
      results[i] = HttpRequest("127.0.0.1", gateway_port_, "POST", "/sync", body,
                               {{"Content-Type", "application/json"},
                                {"Authorization", kBasicAdmin},
                                {"x-apikey", kApiKey}});
    });
  }
  for (std::thread& thread : threads) thread.join();

  ASSERT_TRUE(results[0].ok()) << results[0].status();
  const std::string first = results[0]->body;
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(results[i]->status, 200) << i << ": " << results[i]->body;
    EXPECT_EQ(results[i]->body, first) << i;
    EXPECT_EQ(results[i]->Header("onsync-warnings").value_or(""), "REFERENCE_NOT_FOUND:regulatory")
        << i;
  }
  const int64_t charlie = UserId("Charlie Day");
  const int64_t abel = UserId("Abel Tuter");
  EXPECT_THAT((std::vector<int64_t>{charlie, abel}), UnorderedElementsAre(4, 5));
  EXPECT_EQ(first,
            absl::StrCat(R"({"appName":"Legacy CRM","shortName":"APM0001006",)",
                         R"("description":"Lists an unknown regulation",)",
                         R"("installType":"On Premise","cloudModel":"IaaS",)", R"("appOwner":)",
                         charlie, R"(,"itOwner":)", abel, R"(,"l3":1,"regulatory":"1"})"));
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 2);
}

// 4. Quotes, carets and unicode match exactly; a prefix-sharing name matches only itself.
TEST_F(SyncE2eTest, HostileNamesMatchExactly) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"O'Brien Ledger", "APM0001002"},  {"Pay^Roll", "APM0001003"},
      {"Zoë ✓ Portal", "APM0001004"},    {"Payroll", "APM0001001"},
      {"Payroll Archive", "APM0001007"},
  };
  for (const auto& [name, number] : cases) {
    const HttpResult result = PostSync(PocBody(name));
    ASSERT_EQ(result.status, 200) << name << ": " << result.body;
    const rapidjson::Document body = ParseJson(result.body);
    EXPECT_EQ(Member(body, "appName"), Quoted(name));
    EXPECT_EQ(Member(body, "shortName"), Quoted(number)) << name;
  }
  // The same through the outcome route (its body's JSON escaping included).
  const HttpResult ledger =
      PostOutcome("business_app", R"({"recordId": 1002, "name": "O'Brien Ledger"})");
  ASSERT_EQ(ledger.status, 200) << ledger.body;
  EXPECT_EQ(Member(ParseJson(ledger.body), "shortName"), R"("APM0001002")");
  // Dana O'Brien (O'Brien Ledger's owner) was created once and found again by her exact name.
  EXPECT_EQ(Users("Dana O'Brien").size(), 1u);
  // Neither a prefix nor another case matches.
  for (const char* name : {"Pay", "payroll", "Payroll*", "Pay^^Roll"}) {
    EXPECT_EQ(PostSync(PocBody(name)).status, 404) << name;
  }
}

// 5. An empty reference: null and a warning, not a crash.
TEST_F(SyncE2eTest, EmptyReferenceIsNullWithAWarning) {
  const HttpResult result = PostSync(PocBody("Customer Portal"));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.body, R"({"appName":"Customer Portal","shortName":"APM0001005",)"
                         R"("description":"No L3 assigned yet","installType":"Third Party Hosted",)"
                         R"("cloudModel":"SaaS","appOwner":1,"itOwner":2,"l3":null,)"
                         R"("regulatory":""})");
  const std::string warnings = result.Header("onsync-warnings").value_or("");
  EXPECT_THAT(warnings, HasSubstr("EMPTY_REFERENCE:l3"));
  EXPECT_THAT(warnings, HasSubstr("EMPTY_REFERENCE:regulatory"));
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 0);
}

// 6. An unknown regulation entry is left out (the PoC put 0) with a warning.
TEST_F(SyncE2eTest, UnknownRegulationIsLeftOutWithAWarning) {
  const HttpResult result = PostSync(PocBody("Legacy CRM"));
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(Member(ParseJson(result.body), "regulatory"), R"("1")");
  EXPECT_THAT(result.Header("onsync-warnings").value_or(""),
              HasSubstr("REFERENCE_NOT_FOUND:regulatory"));
}

// 7. Write-back: onsync saves the record itself; a repeat changes and writes nothing.
TEST_F(SyncE2eTest, WriteBackSavesTheRecordOnceAndNothingOnARepeat) {
  const std::string event = R"({"recordId": 1001, "name": "Payroll"})";
  const HttpResult first = PostOutcome("business_app_write_back", event);
  ASSERT_EQ(first.status, 200) << first.body;
  const rapidjson::Document result = ParseJson(first.body);
  EXPECT_EQ(Member(result, "written"), "true");
  EXPECT_EQ(Member(result, "targetRecordId"), R"("1")");
  EXPECT_EQ(Member(result, "mode"), R"("SYNC_MODE_WRITE_BACK")");
  std::vector<std::string> changed;
  if (result.HasMember("changes")) {
    for (const auto& change : result["changes"].GetArray()) {
      changed.push_back(change["field"].GetString());
    }
  }
  EXPECT_THAT(changed, UnorderedElementsAre("appOwner", "cloudModel", "description", "installType",
                                            "itOwner", "l2", "l3", "regulatory", "shortName"));
  ASSERT_TRUE(result.HasMember("created") && result["created"].IsArray());
  ASSERT_EQ(result["created"].Size(), 1u);
  EXPECT_EQ(Member(result["created"][0], "matchValue"), R"("Abel Tuter")");
  EXPECT_EQ(Member(result["created"][0], "recordId"), R"("4")");

  const OsRecord payroll = GetRecord(300, 1);
  EXPECT_EQ(payroll.fields.at(3001), R"("Payroll")");
  EXPECT_EQ(payroll.fields.at(3002), R"("APM0001001")");
  EXPECT_EQ(payroll.fields.at(3003), R"("Processes employee pay and deductions")");
  EXPECT_EQ(payroll.fields.at(3004), Quoted(kOnPremise));
  EXPECT_EQ(payroll.fields.at(3005), Quoted(kNotApplicable));
  EXPECT_EQ(payroll.fields.at(3006), "[1]");
  EXPECT_EQ(payroll.fields.at(3007), "[2]");
  EXPECT_EQ(payroll.fields.at(3008), "[4]");
  EXPECT_EQ(payroll.fields.at(3009), "[4]");
  EXPECT_EQ(payroll.fields.at(3010), "[1,2,3]");
  // Abel Tuter's create and the record's save.
  const int64_t puts = box().CallCount(FakeKind::kOnspring, kPutRecords);
  EXPECT_EQ(puts, 2);

  const HttpResult repeat = PostOutcome("business_app_write_back", event);
  ASSERT_EQ(repeat.status, 200) << repeat.body;
  const rapidjson::Document again = ParseJson(repeat.body);
  EXPECT_EQ(Member(again, "written"), "false");
  EXPECT_EQ(Member(again, "changes"), "[]");
  EXPECT_EQ(Member(again, "created"), "[]");
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), puts);
}

// 8. A dry run reads everything and writes nothing, reporting the planned creates and changes.
TEST_F(SyncE2eTest, DryRunPlansButWritesNothing) {
  const HttpResult response = PostOutcome("business_app_write_back?mode=dry_run",
                                          R"({"recordId": 1006, "name": "Legacy CRM"})");
  ASSERT_EQ(response.status, 200) << response.body;
  const rapidjson::Document result = ParseJson(response.body);
  EXPECT_EQ(Member(result, "written"), "false");
  EXPECT_EQ(Member(result, "mode"), R"("SYNC_MODE_DRY_RUN")");
  ASSERT_TRUE(result.HasMember("changes") && result["changes"].IsArray());
  std::vector<std::string> changed;
  for (const auto& change : result["changes"].GetArray()) {
    changed.push_back(change["field"].GetString());
  }
  EXPECT_THAT(changed, ::testing::IsSupersetOf({"shortName", "description", "installType",
                                                "cloudModel", "l3", "regulatory"}));
  ASSERT_TRUE(result.HasMember("created") && result["created"].IsArray());
  std::vector<std::string> planned;
  for (const auto& created : result["created"].GetArray()) {
    planned.push_back(created["matchValue"].GetString());
    EXPECT_EQ(Member(created, "recordId"), R"("0")");
    EXPECT_EQ(Member(created, "appId"), "100");
  }
  EXPECT_THAT(planned, UnorderedElementsAre("Charlie Day", "Abel Tuter"));
  // The planned users' references are null in the values.
  EXPECT_EQ(Member(result["values"], "appOwner"), "null");
  EXPECT_EQ(Member(result["values"], "itOwner"), "null");
  EXPECT_EQ(Member(result["values"], "l3"), "1");

  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 0);
  EXPECT_THAT(Users("Charlie Day"), IsEmpty());
  EXPECT_THAT(Users("Abel Tuter"), IsEmpty());
  EXPECT_EQ(GetRecord(300, 6).fields.count(3002), 0u);
}

// 9. One 503 from ServiceNow is retried without the caller noticing.
TEST_F(SyncE2eTest, TransientServiceNowFailureIsRetriedTransparently) {
  box().SetFaults(FakeKind::kServiceNow, Failing(1, 503));
  const HttpResult result = PostSync(PocBody("Payroll"));
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(Member(ParseJson(result.body), "shortName"), R"("APM0001001")");
  EXPECT_EQ(box().CallCount(FakeKind::kServiceNow, kSnAppsRoute), 2);
}

// 10. ServiceNow down: 503 with the JSON error body, never a bare 500.
TEST_F(SyncE2eTest, ServiceNowDownIs503WithAJsonError) {
  box().SetFaults(FakeKind::kServiceNow, Failing(-1, 503));  // every call
  const HttpResult result = PostSync(PocBody("Payroll"));
  EXPECT_EQ(result.status, 503) << result.body;
  EXPECT_THAT(result.Header("content-type").value_or(""), HasSubstr("application/json"));
  const rapidjson::Document error = ParseJson(result.body);
  EXPECT_EQ(Member(error, "code"), "14");
  ASSERT_TRUE(error.IsObject() && error.HasMember("message"));
  EXPECT_TRUE(error["message"].IsString());
  EXPECT_EQ(Member(error, "details"), "[]");
  // The outcome route maps it the same way.
  EXPECT_EQ(PostOutcome("business_app", R"({"recordId": 1001, "name": "Payroll"})").status, 503);
  EXPECT_EQ(box().CallCount(FakeKind::kOnspring, kPutRecords), 0);
}

// 11. A slow upstream: 504 when the caller's deadline passes, not when the upstream answers.
TEST_F(SyncE2eTest, SlowServiceNowGives504WithinTheDeadline) {
  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(5);
  box().SetFaults(FakeKind::kServiceNow, slow);
  const absl::Time start = absl::Now();
  const HttpResult result = PostSync(PocBody("Payroll"), {{"grpc-timeout", "500m"}});
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(result.status, 504) << result.body;
  EXPECT_EQ(Member(ParseJson(result.body), "code"), "4");
  EXPECT_LT(elapsed, absl::Seconds(3));
}

// 11b. A server at its cap of syncs in flight refuses more at once: 503 with Retry-After.
TEST_F(SyncE2eTest, AServerAtItsInFlightCapAnswers503WithRetryAfter) {
  for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
    (*process)->Signal(SIGTERM);
    ASSERT_EQ((*process)->Wait(absl::Seconds(15)).value_or(-1), 0);
    process->reset();
  }
  std::string yaml = ReadTextFile(*config_path_);
  const size_t server = yaml.find("\nserver:\n");
  ASSERT_NE(server, std::string::npos);
  yaml.insert(server + std::string("\nserver:\n").size(), "  max_in_flight_syncs: 1\n");
  const std::string config = WriteTempFile(yaml);
  temp_files_.push_back(config);
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  ASSERT_NO_FATAL_FAILURE(StartGateway());

  sandbox::FaultConfig slow;
  slow.latency = absl::Seconds(1);
  box().SetFaults(FakeKind::kServiceNow, slow);
  HttpResult first;
  std::thread first_caller(
      [&] { first = PostOutcome("business_app", R"({"recordId": 1001, "name": "Payroll"})"); });
  // The second is sent once the first is waiting on ServiceNow, so it finds the only slot taken.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (ServiceNowCalls() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  const HttpResult second = PostOutcome("business_app", R"({"recordId": 1002, "name": "Payroll"})");
  first_caller.join();

  EXPECT_EQ(second.status, 503) << second.body;
  EXPECT_EQ(second.Header("retry-after"), "1");
  EXPECT_EQ(Member(ParseJson(second.body), "code"), "14");
  EXPECT_THAT(second.body, HasSubstr("max_in_flight_syncs"));
  EXPECT_EQ(first.status, 200) << first.body;
}

// 12. The PoC's body names the ServiceNow host: only allowed hosts get the caller's credentials.
TEST_F(SyncE2eTest, ServiceNowHostOutsideTheAllowListIs403) {
  const HttpResult result = PostSync(PocBody("Payroll", "http://evil.example.com"));
  EXPECT_EQ(result.status, 403) << result.body;
  EXPECT_EQ(Member(ParseJson(result.body), "code"), "7");
  EXPECT_THAT(result.body, HasSubstr("evil.example.com"));
  EXPECT_EQ(ServiceNowCalls(), 0);
  EXPECT_THAT(box().request_log().Entries(FakeKind::kServiceNow), IsEmpty());
  // localhost is on the list, like 127.0.0.1.
  const HttpResult local =
      PostSync(PocBody("Payroll", absl::StrCat("http://localhost:", box().servicenow_port())));
  EXPECT_EQ(local.status, 200) << local.body;
}

// 13. Unknown application and unknown profile: 404 with a JSON error.
TEST_F(SyncE2eTest, UnknownAppAndUnknownProfileAre404) {
  const HttpResult app = PostSync(PocBody("No Such App"));
  EXPECT_EQ(app.status, 404) << app.body;
  EXPECT_EQ(Member(ParseJson(app.body), "code"), "5");
  EXPECT_THAT(app.body, HasSubstr("No Such App"));
  const HttpResult outcome_app =
      PostOutcome("business_app", R"({"recordId": 1, "name": "No Such App"})");
  EXPECT_EQ(outcome_app.status, 404) << outcome_app.body;

  const HttpResult profile =
      PostOutcome("no_such_profile", R"({"recordId": 1001, "name": "Payroll"})");
  EXPECT_EQ(profile.status, 404) << profile.body;
  EXPECT_EQ(Member(ParseJson(profile.body), "code"), "5");
  EXPECT_EQ(ServiceNowCalls(), 2);  // the two unknown apps; nothing for the unknown profile
}

// 14. SyncRecord over gRPC by an independent client that knows onsync only through reflection.
TEST_F(SyncE2eTest, SyncRecordOverGrpcWithAReflectionClient) {
  const auto [code, out, err] =
      Reflect({"call", "onsync.v1.SyncService/SyncRecord",
               R"({"profile": "business_app", "trigger": {"key": "Pay^Roll"}})"});
  ASSERT_EQ(code, 0) << err;
  const rapidjson::Document response = ParseJson(out);
  ASSERT_TRUE(response.IsObject() && response.HasMember("result")) << out;
  const rapidjson::Value& values = response["result"]["values"];
  // Pay^Roll: owner Beth Anglin (2), IT owner Charlie Day (missing: created as 4), L3 Fred
  // Jones (1), regulations "PCI-DSS, SOX" (4, 2).
  EXPECT_EQ(Member(values, "appName"), R"("Pay^Roll")");
  EXPECT_EQ(Member(values, "shortName"), R"("APM0001003")");
  EXPECT_EQ(Member(values, "description"), R"("Caret in the name: must be sent as ^^")");
  EXPECT_EQ(Member(values, "installType"), R"("Hybrid")");
  EXPECT_EQ(Member(values, "cloudModel"), R"("PaaS")");
  EXPECT_EQ(Number(values, "appOwner"), 2) << Member(values, "appOwner");
  EXPECT_EQ(Number(values, "itOwner"), 4) << Member(values, "itOwner");
  EXPECT_EQ(Number(values, "l3"), 1) << Member(values, "l3");
  EXPECT_EQ(Number(values, "l2"), 1) << Member(values, "l2");
  EXPECT_EQ(Member(values, "regulatory"), R"("4|2")");
  EXPECT_EQ(Member(response["result"], "mode"), R"("SYNC_MODE_RESPOND")");
  EXPECT_EQ(UserId("Charlie Day"), 4);
}

// 15. The whole loop as a user sees it (scripts/demo-loop): saving "Sync with ServiceNow" = Yes
// fires Onspring's outcome, onsync answers, and the record's fields fill in.

// a) The PoC's outcome pointed at onsync's /sync; Onspring's Data Mapping writes.
TEST_F(SyncE2eTest, LoopThroughThePocRouteFillsTheRecord) {
  // The outcome renders the template: the sandbox fills in its URL, Onspring the record's name.
  const std::string poc_body = PocBody("{:Name}", "{{servicenow_url}}");
  const sandbox::OutcomeRun run =
      RunLoop(OutcomeJson("PoC", GatewayUrl() + "/sync", poc_body,
                          R"(, "headers": [{"name": "x-apikey", "value": "sandbox-key"}],
                     "auth": {"type": "basic", "username": "admin", "password": "sandbox"})",
                          kDataMapping),
              4);
  EXPECT_THAT(run.errors, IsEmpty());
  // Zoë ✓ Portal: owner Zoë Müller (3), IT owner Mary Ann Smith (missing: created), L3 Beth
  // Anglin (2), GDPR (1).
  const int64_t mary = UserId("Mary Ann Smith");
  EXPECT_EQ(mary, 4);
  const OsRecord record = GetRecord(300, 4);
  EXPECT_EQ(record.fields.at(3001), R"("Zoë ✓ Portal")");
  EXPECT_EQ(record.fields.at(3002), R"("APM0001004")");
  EXPECT_EQ(record.fields.at(3003), R"("Unicode name; employee self-service")");
  EXPECT_EQ(record.fields.at(3004), Quoted(kCloud));
  EXPECT_EQ(record.fields.at(3005), Quoted(kSaaS));
  EXPECT_EQ(record.fields.at(3006), "[3]");
  EXPECT_EQ(record.fields.at(3007), absl::StrCat("[", mary, "]"));
  EXPECT_EQ(record.fields.at(3008), "[2]");
  EXPECT_EQ(record.fields.at(3009), "[2]");
  EXPECT_EQ(record.fields.at(3010), "[1]");
  EXPECT_EQ(record.fields.at(3011), Quoted(kSyncYes));
  // Mary Ann Smith: first word / rest of the name, the PoC's username rule.
  const OsRecord user = GetRecord(100, mary);
  EXPECT_EQ(user.fields.at(1001), R"("Mary")");
  EXPECT_EQ(user.fields.at(1002), R"("Ann Smith")");
  EXPECT_EQ(user.fields.at(1003), R"("mary.ann smith")");
  EXPECT_EQ(user.fields.at(1004), R"("mary.ann smith@example.com")");
}

// b) A profile in respond mode; Onspring's Data Mapping writes.
TEST_F(SyncE2eTest, LoopThroughTheRespondProfileFillsTheRecord) {
  const sandbox::OutcomeRun run =
      RunLoop(OutcomeJson("respond", GatewayUrl() + "/v1/outcomes/business_app",
                          R"({"recordId": {:Record Id}, "name": "{:Name}"})", "", kDataMapping),
              6);
  EXPECT_THAT(run.body, HasSubstr(R"("recordId": 1006)"));
  // Legacy CRM: owner Charlie Day and IT owner Abel Tuter (both created), L3 Fred Jones (1),
  // "GDPR, FOO-123" -> GDPR (1) only.
  const int64_t charlie = UserId("Charlie Day");
  const int64_t abel = UserId("Abel Tuter");
  EXPECT_THAT((std::vector<int64_t>{charlie, abel}), UnorderedElementsAre(4, 5));
  const OsRecord record = GetRecord(300, 6);
  EXPECT_EQ(record.fields.at(3001), R"("Legacy CRM")");
  EXPECT_EQ(record.fields.at(3002), R"("APM0001006")");
  EXPECT_EQ(record.fields.at(3003), R"("Lists an unknown regulation")");
  EXPECT_EQ(record.fields.at(3004), Quoted(kOnPremise));
  EXPECT_EQ(record.fields.at(3005), Quoted("93dd5bd9-96ba-5f75-a459-f1fa7fe0358b"));  // IaaS
  EXPECT_EQ(record.fields.at(3006), absl::StrCat("[", charlie, "]"));
  EXPECT_EQ(record.fields.at(3007), absl::StrCat("[", abel, "]"));
  EXPECT_EQ(record.fields.at(3008), "[1]");
  EXPECT_EQ(record.fields.at(3009), "[1]");
  EXPECT_EQ(record.fields.at(3010), "[1]");
}

// c) A profile in write-back mode: no Data Mapping, onsync writes the record itself.
TEST_F(SyncE2eTest, LoopThroughTheWriteBackProfileFillsTheRecord) {
  const sandbox::OutcomeRun run =
      RunLoop(OutcomeJson("write-back", GatewayUrl() + "/v1/outcomes/business_app_write_back",
                          R"({"recordId": {:Record Id}, "name": "{:Name}"})", "", "[]"),
              3);
  EXPECT_THAT(run.mapped, IsEmpty());
  EXPECT_EQ(Member(ParseJson(run.response_body), "written"), "true");
  // Pay^Roll: owner Beth Anglin (2), IT owner Charlie Day (created), L3 and L2 Fred Jones (1),
  // "PCI-DSS, SOX" (4, 2).
  const int64_t charlie = UserId("Charlie Day");
  EXPECT_EQ(charlie, 4);
  const OsRecord record = GetRecord(300, 3);
  EXPECT_EQ(record.fields.at(3001), R"("Pay^Roll")");
  EXPECT_EQ(record.fields.at(3002), R"("APM0001003")");
  EXPECT_EQ(record.fields.at(3003), R"("Caret in the name: must be sent as ^^")");
  EXPECT_EQ(record.fields.at(3004), Quoted(kHybrid));
  EXPECT_EQ(record.fields.at(3005), Quoted(kPaaS));
  EXPECT_EQ(record.fields.at(3006), "[2]");
  EXPECT_EQ(record.fields.at(3007), absl::StrCat("[", charlie, "]"));
  EXPECT_EQ(record.fields.at(3008), "[1]");
  EXPECT_EQ(record.fields.at(3009), "[1]");
  EXPECT_THAT(record.fields.at(3010), ::testing::AnyOf("[4,2]", "[2,4]"));
  EXPECT_EQ(record.fields.at(3011), Quoted(kSyncYes));
  // The write-back's own save did not fire the outcome again (Sync stayed Yes).
  EXPECT_EQ(box().outcomes().Runs().size(), 1u);
}

}  // namespace
}  // namespace onsync::testing
