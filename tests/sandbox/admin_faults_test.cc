// Fault injection and the admin routes of both listeners.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/test_util.h"

namespace onsync::sandbox::testing {
namespace {

using ::onsync::testing::HttpResult;
using ::testing::HasSubstr;
using ::testing::Not;

class AdminFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = StartSandbox();
    ASSERT_NE(sandbox_, nullptr);
    sn_ = sandbox_->servicenow_port();
    os_ = sandbox_->onspring_port();
  }

  HttpResult SnGet(std::string_view target) { return Call(sn_, "GET", target, "", AdminBasic()); }
  HttpResult OsGet(std::string_view target) { return Call(os_, "GET", target, "", OnspringKey()); }
  HttpResult SetFaults(int port, std::string_view json) {
    return Call(port, "POST", "/__admin/faults", json, {{"Content-Type", "application/json"}});
  }

  std::unique_ptr<Sandbox> sandbox_;
  int sn_ = 0;
  int os_ = 0;
};

TEST_F(AdminFaultsTest, LatencyDelaysResponsesWithoutBlockingIoThreads) {
  ASSERT_EQ(SetFaults(sn_, R"({"latency_ms": 300})").status, 200);
  // Six concurrent requests on a listener with two I/O threads: if the delay slept on the I/O
  // threads they would need at least 900 ms.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  const absl::Time start = absl::Now();
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      const absl::Time begin = absl::Now();
      const HttpResult result = SnGet("/api/now/table/sys_user?sysparm_limit=1");
      if (result.status == 200 && absl::Now() - begin >= absl::Milliseconds(290)) ++ok;
    });
  }
  for (std::thread& thread : threads) thread.join();
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(ok.load(), 6);
  EXPECT_LT(elapsed, absl::Milliseconds(850));
  // The other fake is not delayed.
  const absl::Time begin = absl::Now();
  EXPECT_EQ(OsGet("/Ping").status, 200);
  EXPECT_LT(absl::Now() - begin, absl::Milliseconds(250));
}

TEST_F(AdminFaultsTest, RateLimitWithRetryAfter) {
  ASSERT_EQ(SetFaults(sn_, R"({"fail_next": 1, "fail_status": 429, "retry_after_s": 7})").status,
            200);
  HttpResult result = SnGet("/api/now/table/sys_user");
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(result.Header("retry-after"), "7");
  EXPECT_EQ(result.Header("x-ratelimit-limit"), "100");
  EXPECT_TRUE(result.Header("x-ratelimit-reset").has_value());
  EXPECT_EQ(result.body,
            R"({"error":{"message":"Rate limit exceeded","detail":"Rate limit of 100 requests per )"
            R"(hour for Table API exceeded"},"status":"failure"})");
  EXPECT_EQ(SnGet("/api/now/table/sys_user").status, 200);
  // Onspring's 429 (its format is undocumented): {"message"} plus Retry-After.
  ASSERT_EQ(SetFaults(os_, R"({"fail_next": 1, "fail_status": 429, "retry_after_s": 2})").status,
            200);
  result = OsGet("/Apps");
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(result.Header("retry-after"), "2");
  EXPECT_EQ(result.body, R"({"message":"Too Many Requests"})");
}

TEST_F(AdminFaultsTest, FailNextThenSuccess) {
  ASSERT_EQ(SetFaults(os_, R"({"fail_next": 2, "fail_status": 503})").status, 200);
  EXPECT_EQ(OsGet("/Apps").status, 503);
  EXPECT_EQ(OsGet("/Apps").status, 503);
  EXPECT_EQ(OsGet("/Apps").status, 200);
  EXPECT_EQ(sandbox_->GetFaults(FakeKind::kOnspring).fail_next, 0);
  // The failures are logged and counted like any call.
  EXPECT_EQ(sandbox_->CallCount(FakeKind::kOnspring, "GET /Apps"), 3);
  const std::vector<RequestLogEntry> entries = sandbox_->request_log().Entries(FakeKind::kOnspring);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].fault, "fail:503");
  EXPECT_EQ(entries[2].fault, "");
}

TEST_F(AdminFaultsTest, HtmlErrorPagesAndPathFilters) {
  ASSERT_EQ(SetFaults(sn_, R"({"fail_next": -1, "fail_status": 503, "fail_body": "html",
                               "fail_path": "/api/now/table/cmdb_ci_business_app"})")
                .status,
            200);
  HttpResult result = SnGet("/api/now/table/cmdb_ci_business_app");
  EXPECT_EQ(result.status, 503);
  EXPECT_THAT(result.Header("content-type").value_or(""), HasSubstr("text/html"));
  EXPECT_THAT(result.body, HasSubstr("<html>"));
  EXPECT_EQ(result.Header("retry-after"), "1");
  EXPECT_EQ(SnGet("/api/now/table/sys_user?sysparm_limit=1").status, 200);  // other paths pass
  EXPECT_EQ(SnGet("/api/now/table/cmdb_ci_business_app").status, 503);      // -1: until changed
  ASSERT_EQ(SetFaults(sn_, "{}").status, 200);
  EXPECT_EQ(SnGet("/api/now/table/cmdb_ci_business_app").status, 200);
}

TEST_F(AdminFaultsTest, TruncatedBodies) {
  ASSERT_EQ(
      SetFaults(sn_, R"({"fail_next": 1, "fail_status": 200, "fail_body": "truncated"})").status,
      200);
  const HttpResult full = SnGet("/api/now/table/cmdb_ci_business_app?sysparm_fields=name");
  ASSERT_EQ(
      SetFaults(sn_, R"({"fail_next": 1, "fail_status": 200, "fail_body": "truncated"})").status,
      200);
  const HttpResult cut = SnGet("/api/now/table/cmdb_ci_business_app?sysparm_fields=name");
  EXPECT_EQ(cut.status, 200);
  EXPECT_FALSE(ParseJson(cut.body).ok());
  EXPECT_FALSE(ParseJson(full.body).ok());  // the first one was cut too
  const HttpResult whole = SnGet("/api/now/table/cmdb_ci_business_app?sysparm_fields=name");
  EXPECT_TRUE(ParseJson(whole.body).ok());
  EXPECT_EQ(cut.body, whole.body.substr(0, whole.body.size() / 2));
}

TEST_F(AdminFaultsTest, InjectedAuthFailuresUseEachFakesShape) {
  ASSERT_EQ(SetFaults(sn_, R"({"target": "both", "fail_next": 1, "fail_status": 401})").status,
            200);
  HttpResult result = SnGet("/api/now/table/sys_user");
  EXPECT_EQ(result.status, 401);
  EXPECT_THAT(result.body, HasSubstr("User Not Authenticated"));
  EXPECT_EQ(result.Header("www-authenticate"), "Basic realm=\"Service-now\"");
  result = OsGet("/Apps");
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, "");
}

TEST_F(AdminFaultsTest, FaultsRouteValidatesAndReports) {
  HttpResult result = SetFaults(os_, R"({"latency_ms": "fast"})");
  EXPECT_EQ(result.status, 400);
  EXPECT_THAT(result.body, HasSubstr("latency_ms"));
  EXPECT_EQ(SetFaults(os_, R"({"surprise": 1})").status, 400);
  EXPECT_EQ(SetFaults(os_, R"({"target": "mars"})").status, 400);
  result = SetFaults(os_, R"({"slow_body_ms": 20, "fail_next": 3})");  // defaults to onspring
  ASSERT_EQ(result.status, 200);
  rapidjson::Document json = Json(Call(sn_, "GET", "/__admin/faults").body);
  EXPECT_EQ(json["onspring"]["slow_body_ms"].GetInt(), 20);
  EXPECT_EQ(json["onspring"]["fail_next"].GetInt(), 3);
  EXPECT_EQ(json["servicenow"]["fail_next"].GetInt(), 0);
  EXPECT_EQ(Call(sn_, "GET", "/__admin/nothing").status, 404);
}

TEST_F(AdminFaultsTest, RequestLogRecordsWhatClientsSentWithoutSecrets) {
  ASSERT_EQ(SnGet("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DPay%5E%5ERoll"
                  "&sysparm_fields=name&sysparm_no_count=true")
                .status,
            200);
  ASSERT_EQ(Call(sn_, "POST", "/oauth_token.do",
                 "grant_type=password&client_id=sandbox-client&client_secret=sandbox-secret"
                 "&username=admin&password=sandbox",
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
                .status,
            200);
  ASSERT_EQ(
      Call(os_, "POST", "/Records/Query", R"({"appId":300,"filter":"3001 eq 'x'"})", OnspringJson())
          .status,
      200);
  EXPECT_EQ(Call(sn_, "GET", "/api/now/table/sys_user").status, 401);

  const std::string text = Call(sn_, "GET", "/__admin/requests").body;
  EXPECT_THAT(text, Not(HasSubstr("sandbox-secret")));
  EXPECT_THAT(text, Not(HasSubstr("YWRtaW46c2FuZGJveA")));
  EXPECT_THAT(text, Not(HasSubstr("password=")));
  rapidjson::Document log = Json(text);
  ASSERT_EQ(log["requests"].Size(), 3u);  // this listener's fake only
  const rapidjson::Value& first = log["requests"][0];
  EXPECT_EQ(Str(first["method"]), "GET");
  EXPECT_EQ(Str(first["route"]), "GET /api/now/table/cmdb_ci_business_app");
  EXPECT_EQ(Str(first["query"]["sysparm_query"]), "name=Pay^^Roll");
  EXPECT_EQ(Str(first["query"]["sysparm_no_count"]), "true");
  EXPECT_EQ(Str(first["auth"]), "basic");
  EXPECT_EQ(Str(first["user"]), "admin");
  EXPECT_EQ(Str(first["headers"]["authorization"]), "Basic [REDACTED]");
  EXPECT_EQ(first["status"].GetInt(), 200);
  EXPECT_EQ(Str(log["requests"][1]["body"]), "grant_type=password");
  EXPECT_EQ(Str(log["requests"][2]["auth"]), "none");
  EXPECT_EQ(log["requests"][2]["status"].GetInt(), 401);
  EXPECT_EQ(log["counts"]["GET /api/now/table/cmdb_ci_business_app"].GetInt(), 1);
  EXPECT_EQ(log["counts"]["POST /oauth_token.do"].GetInt(), 1);

  const std::string onspring_text = Call(os_, "GET", "/__admin/requests").body;
  EXPECT_THAT(onspring_text, Not(HasSubstr("sandbox-key")));
  rapidjson::Document onspring_log = Json(onspring_text);
  ASSERT_EQ(onspring_log["requests"].Size(), 1u);
  EXPECT_EQ(Str(onspring_log["requests"][0]["auth"]), "apikey");
  EXPECT_EQ(Str(onspring_log["requests"][0]["headers"]["x-apikey"]), "[REDACTED]");
  EXPECT_EQ(Str(onspring_log["requests"][0]["body"]), R"({"appId":300,"filter":"3001 eq 'x'"})");
  EXPECT_EQ(onspring_log["counts"]["POST /Records/Query"].GetInt(), 1);
  EXPECT_EQ(Json(Call(os_, "GET", "/__admin/requests?fake=all").body)["total"].GetInt(), 4);
}

TEST_F(AdminFaultsTest, ResetRestoresTheSeedAndClearsTheLog) {
  ASSERT_EQ(
      Call(os_, "PUT", "/Records", R"({"appId":300,"fields":{"3001":"Temp"}})", OnspringJson())
          .status,
      201);
  ASSERT_EQ(Call(os_, "PUT", "/Records", R"({"appId":100,"recordId":1,"fields":{"1001":"X"}})",
                 OnspringJson())
                .status,
            200);
  ASSERT_EQ(SetFaults(sn_, R"({"latency_ms": 50})").status, 200);
  HttpResult result = Call(sn_, "POST", "/__admin/reset");
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, R"({"status":"reset"})");
  EXPECT_EQ(sandbox_->request_log().Entries().size(), 0u);
  EXPECT_EQ(sandbox_->GetFaults(FakeKind::kServiceNow).latency, absl::ZeroDuration());
  EXPECT_EQ(OsGet("/Records/appId/300/recordId/8").status, 404);
  rapidjson::Document record = Json(OsGet("/Records/appId/100/recordId/1").body);
  EXPECT_EQ(Str(*FieldValue(record, 1005)), "Fred Jones");
  // Ids start over too.
  result =
      Call(os_, "PUT", "/Records", R"({"appId":300,"fields":{"3001":"Temp"}})", OnspringJson());
  EXPECT_EQ(result.body, R"({"id":8,"warnings":[]})");
}

}  // namespace
}  // namespace onsync::sandbox::testing
