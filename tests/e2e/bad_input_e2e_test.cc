// The bad-input suite (issue 6): malformed requests of every kind through the real gateway and
// server. Each gets its documented 4xx with a JSON error body ({"code": <gRPC code>, "message":
// ...}), both processes stay up and keep serving, and nothing is written upstream (the sandbox's
// request log shows no write at all).
#include <signal.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kJson[] = "application/json";
constexpr char kBasicAdmin[] = "Basic YWRtaW46c2FuZGJveA==";  // admin:sandbox

struct BadRequest {
  std::string name;
  std::string method;
  std::string target;
  Headers headers;
  std::string body;
  int status;
};

// The PoC's body with `replace` substituted for the text `what` (to break one field).
std::string PocBody(const std::string& servicenow_url) {
  return absl::StrCat(R"({"serviceNowBaseUrl": ")", servicenow_url, R"(", "appName": "Payroll",
      "onspringUserAppId": 100, "onspringUserFirstNameFieldId": 1001,
      "onspringUserLastNameFieldId": 1002, "onspringUserUsernameFieldId": 1003,
      "onspringUserEmailFieldId": 1004, "onspringUserStatusFieldId": 1006,
      "onspringUserStatusValue": "6f0caae9-2f2d-5073-8d41-592671697963",
      "onspringUserTierFieldId": 1007,
      "onspringUserTierValue": "9e34f1a4-7bbb-5b84-af5b-0b954f359412",
      "onspringUserFullNameFieldId": 1005, "onspringRegTypeAppId": 200,
      "onspringRegTypeIdFieldId": 2001})");
}

std::string Replace(std::string text, const std::string& what, const std::string& with) {
  const size_t at = text.find(what);
  EXPECT_NE(at, std::string::npos) << what;
  if (at != std::string::npos) text.replace(at, what.size(), with);
  return text;
}

class BadInputE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    auto sandbox = sandbox::Sandbox::Start({});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    const std::string yaml =
        WithSandboxConnections(ReadTextFile(SourcePath("deploy/examples/business-app.yaml")),
                               sandbox_->servicenow_url(), sandbox_->onspring_url(), temp_files_);
    const std::string config = WriteTempFile(yaml);  // a copy: StartServer adds to temp_files_
    temp_files_.push_back(config);
    StartServer(config);
    ASSERT_FALSE(HasFatalFailure());
    StartGateway({"--max_body_bytes", "65536"});
  }

  void TearDown() override {
    for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
      if (!process->has_value()) continue;
      (*process)->Signal(SIGTERM);
      const absl::StatusOr<int> code = (*process)->Wait(absl::Seconds(15));
      EXPECT_TRUE(code.ok()) << code.status();
      EXPECT_EQ(code.value_or(0), 0) << (*process)->Stderr();
    }
  }

  std::vector<BadRequest> Requests() const {
    const std::string outcome = "/v1/outcomes/business_app";
    const Headers json = {{"Content-Type", kJson}};
    const Headers poc = {
        {"Content-Type", kJson}, {"Authorization", kBasicAdmin}, {"x-apikey", "sandbox-key"}};
    const std::string body = PocBody(sandbox_->servicenow_url());
    std::string deep_array(5000, '[');
    deep_array += std::string(5000, ']');
    std::string deep_object;
    for (int i = 0; i < 2000; ++i) deep_object += R"({"a":)";
    deep_object += "1" + std::string(2000, '}');
    return {
        // Broken JSON.
        {"truncated object", "POST", outcome, json, R"({"recordId": 1001, "name": )", 400},
        {"not JSON", "POST", outcome, json, "recordId=1001", 400},
        {"trailing garbage", "POST", outcome, json, R"({"recordId": 1001} x)", 400},
        {"single quotes", "POST", outcome, json, R"({'recordId': 1001})", 400},
        {"unterminated string", "POST", outcome, json, R"({"name": "Payroll)", 400},
        {"bad escape", "POST", outcome, json, R"({"name": "Pay\qroll"})", 400},
        {"empty body", "POST", outcome, json, "", 400},
        {"whitespace body", "POST", outcome, json, "   ", 400},
        // JSON of the wrong shape or type.
        {"array instead of object", "POST", outcome, json, R"([{"name": "Payroll"}])", 400},
        {"number instead of object", "POST", outcome, json, "1001", 400},
        {"string instead of object", "POST", outcome, json, R"("Payroll")", 400},
        {"null body", "POST", outcome, json, "null", 400},
        {"name is an array", "POST", outcome, json, R"({"recordId": 1001, "name": ["a"]})", 400},
        {"name is an object", "POST", outcome, json, R"({"name": {"x": 1}})", 400},
        {"missing the key field", "POST", outcome, json, R"({"recordId": 1001})", 400},
        {"empty object", "POST", outcome, json, "{}", 400},
        // Numbers.
        {"huge exponent", "POST", outcome, json, R"({"recordId": 1e400, "name": "Payroll"})", 400},
        {"huge integer", "POST", "/sync", poc,
         Replace(body, R"("onspringUserAppId": 100)",
                 R"("onspringUserAppId": 123456789012345678901234567890)"),
         400},
        {"negative id", "POST", "/sync", poc,
         Replace(body, R"("onspringUserAppId": 100)", R"("onspringUserAppId": -5)"), 400},
        {"fractional id", "POST", "/sync", poc,
         Replace(body, R"("onspringUserAppId": 100)", R"("onspringUserAppId": 1.5)"), 400},
        {"id as a string", "POST", "/sync", poc,
         Replace(body, R"("onspringUserAppId": 100)", R"("onspringUserAppId": "100")"), 400},
        // Nesting, encoding, duplicates.
        {"deeply nested arrays", "POST", outcome, json, deep_array, 400},
        {"deeply nested objects", "POST", outcome, json, deep_object, 400},
        {"invalid UTF-8", "POST", outcome, json, "{\"name\": \"Pay\xff\xferoll\"}", 400},
        {"overlong UTF-8", "POST", outcome, json, "{\"name\": \"\xc0\xaf\"}", 400},
        {"duplicate keys", "POST", "/sync", poc,
         Replace(body, R"("appName": "Payroll")", R"("appName": "Payroll", "appName": "HR")"), 400},
        // The PoC route's fields and headers.
        {"/sync missing appName", "POST", "/sync", poc,
         Replace(body, R"("appName": "Payroll",)", ""), 400},
        {"/sync empty appName", "POST", "/sync", poc,
         Replace(body, R"("appName": "Payroll")", R"("appName": "")"), 400},
        {"/sync ServiceNow URL not http(s)", "POST", "/sync", poc,
         Replace(body, sandbox_->servicenow_url(), "file:///etc/passwd"), 400},
        {"/sync ServiceNow URL with credentials", "POST", "/sync", poc,
         Replace(body, "http://", "http://user:pw@"), 400},
        {"/sync without credentials", "POST", "/sync", json, body, 401},
        {"/sync host outside the allow-list", "POST", "/sync", poc,
         Replace(body, sandbox_->servicenow_url(), "https://evil.example.com"), 403},
        // Size, content type, method, mode, deadline.
        {"oversized body", "POST", outcome, json,
         absl::StrCat(R"({"name": ")", std::string(70'000, 'x'), R"("})"), 413},
        {"text/plain",
         "POST",
         outcome,
         {{"Content-Type", "text/plain"}},
         R"({"recordId": 1001, "name": "Payroll"})",
         415},
        {"JSON with a charset but another type",
         "POST",
         outcome,
         {{"Content-Type", "text/json; charset=utf-8"}},
         R"({"recordId": 1001, "name": "Payroll"})",
         415},
        {"form content type",
         "POST",
         "/sync",
         {{"Content-Type", "application/x-www-form-urlencoded"},
          {"Authorization", kBasicAdmin},
          {"x-apikey", "sandbox-key"}},
         body,
         415},
        {"GET on an outcome", "GET", outcome, {}, "", 405},
        {"PUT on /sync", "PUT", "/sync", poc, body, 405},
        {"unknown mode", "POST", outcome + "?mode=everything", json,
         R"({"recordId": 1001, "name": "Payroll"})", 400},
        {"malformed grpc-timeout",
         "POST",
         outcome,
         {{"Content-Type", kJson}, {"grpc-timeout", "soon"}},
         R"({"recordId": 1001, "name": "Payroll"})",
         400},
        // Profiles and paths.
        {"unknown profile", "POST", "/v1/outcomes/no_such_profile", json,
         R"({"recordId": 1001, "name": "Payroll"})", 404},
        {"path traversal", "POST", "/v1/outcomes/../../etc/passwd", json, R"({"recordId": 1001})",
         404},
        {"encoded traversal", "POST", "/v1/outcomes/%2e%2e%2fsecrets", json,
         R"({"recordId": 1001})", 404},
        {"profile name too long", "POST", absl::StrCat("/v1/outcomes/", std::string(300, 'a')),
         json, R"({"recordId": 1001})", 404},
        {"upper-case profile name", "POST", "/v1/outcomes/BUSINESS_APP", json,
         R"({"recordId": 1001, "name": "Payroll"})", 404},
        {"unknown route", "POST", "/v2/sync", json, "{}", 404},
        {"job id traversal", "GET", "/v1/jobs/..%2f..%2fjobs.db", {}, "", 404},
        // The generic gRPC route.
        {"generic route, unknown field", "POST", "/onsync.v1.SyncService/SyncRecord", json,
         R"({"profile": "business_app", "nonsense": 1})", 400},
        {"generic route, wrong type", "POST", "/onsync.v1.SyncService/SyncRecord", json,
         R"({"profile": 7})", 400},
        {"generic route, unknown method", "POST", "/onsync.v1.SyncService/DropTables", json, "{}",
         404},
    };
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
};

TEST_F(BadInputE2eTest, EveryMalformedRequestGetsItsJsonErrorAndNothingIsWritten) {
  const std::vector<BadRequest> requests = Requests();
  ASSERT_GE(requests.size(), 40u);
  sandbox_->request_log().Clear();
  for (const BadRequest& bad : requests) {
    SCOPED_TRACE(bad.name);
    auto result =
        HttpRequest("127.0.0.1", gateway_port_, bad.method, bad.target, bad.body, bad.headers);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, bad.status) << result->body.substr(0, 300);
    rapidjson::Document error;
    error.Parse(result->body.c_str(), result->body.size());
    ASSERT_TRUE(!error.HasParseError() && error.IsObject()) << result->body.substr(0, 300);
    EXPECT_TRUE(error.HasMember("code") && error["code"].IsInt()) << result->body.substr(0, 300);
    EXPECT_TRUE(error.HasMember("message") && error["message"].IsString())
        << result->body.substr(0, 300);
  }

  // Malformed bytes on the wire: a CR inside a header value, a bare LF line ending.
  for (const std::string& raw :
       {std::string("POST /v1/outcomes/business_app HTTP/1.1\r\nHost: x\r\nX-Bad: a\rb\r\n"
                    "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
        std::string("POST /v1/outcomes/business_app HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: abc\r\n\r\n{}")}) {
    auto connection = HttpTestConnection::Connect("127.0.0.1", gateway_port_);
    ASSERT_TRUE(connection.ok()) << connection.status();
    ASSERT_TRUE(connection->SendRaw(raw).ok());
    auto response = connection->ReadResponse();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 400) << raw;
  }

  // Nothing reached an upstream as a write (Onspring's queries are POSTs; its writes are PUT and
  // DELETE), and both processes still serve.
  for (const sandbox::RequestLogEntry& entry : sandbox_->request_log().Entries()) {
    const bool write = entry.fake == sandbox::FakeKind::kServiceNow
                           ? entry.method != "GET"
                           : entry.method == "PUT" || entry.method == "DELETE";
    EXPECT_FALSE(write) << entry.method << " " << entry.path;
  }
  auto healthy = HttpRequest("127.0.0.1", gateway_port_, "GET", "/readyz");
  ASSERT_TRUE(healthy.ok()) << healthy.status();
  EXPECT_EQ(healthy->status, 200);
  auto good = HttpRequest("127.0.0.1", gateway_port_, "POST", "/v1/outcomes/business_app",
                          R"({"recordId": 1001, "name": "Payroll"})", {{"Content-Type", kJson}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->status, 200) << good->body;
}

}  // namespace
}  // namespace onsync::testing
