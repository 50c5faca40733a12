// `POST /sync` over real sockets: a real Gateway in front of a fake SyncService.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/retry_after.h"
#include "common/status_grpc.h"
#include "common/trace_context.h"
#include "gateway/routes/sync_route.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/gateway/sync_routes_fixture.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;
using onsync::testing::ExpectError;
using onsync::testing::HttpResult;
using onsync::testing::kJson;
using onsync::testing::kTimeoutRounding;
using onsync::testing::ParseJson;
using onsync::testing::SyncRoutesTest;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

constexpr char kAuthorization[] = "Basic YWRtaW46c2FuZGJveA==";
constexpr char kApiKey[] = "sandbox-key";

// The PoC's outcome body (reference/poc-outcome.md), members in the order they are checked.
constexpr char kPocBody[] = R"({
  "serviceNowBaseUrl": "https://acme.service-now.com", "appName": "Payroll",
  "onspringUserAppId": 2, "onspringUserFirstNameFieldId": 46, "onspringUserLastNameFieldId": 39,
  "onspringUserUsernameFieldId": 43, "onspringUserEmailFieldId": 40,
  "onspringUserFullNameFieldId": 56, "onspringUserStatusFieldId": 1,
  "onspringUserTierFieldId": 17695, "onspringRegTypeAppId": 723,
  "onspringRegTypeIdFieldId": 24045,
  "onspringUserStatusValue": "0c2b1e4a-status", "onspringUserTierValue": "8f3d9a77-tier"})";

constexpr const char* kIdMembers[] = {"onspringUserAppId",           "onspringUserFirstNameFieldId",
                                      "onspringUserLastNameFieldId", "onspringUserUsernameFieldId",
                                      "onspringUserEmailFieldId",    "onspringUserFullNameFieldId",
                                      "onspringUserStatusFieldId",   "onspringUserTierFieldId",
                                      "onspringRegTypeAppId",        "onspringRegTypeIdFieldId"};
constexpr const char* kStringMembers[] = {"serviceNowBaseUrl", "appName", "onspringUserStatusValue",
                                          "onspringUserTierValue"};

// The request the fake must receive for kPocBody.
constexpr char kExpectedRequest[] = R"pb(
  inline_profile {
    description: "POST /sync (the PoC's route)"
    source { table: "cmdb_ci_business_app" key_field: "name" }
    mode: PROFILE_MODE_RESPOND
    fields {
      key: "appName"
      value {
        from: "name"
        text {}
      }
    }
    fields {
      key: "shortName"
      value {
        from: "number"
        text {}
      }
    }
    fields {
      key: "description"
      value {
        from: "short_description"
        text {}
      }
    }
    fields {
      key: "installType"
      value {
        from: "install_type"
        text {}
      }
    }
    fields {
      key: "cloudModel"
      value {
        from: "u_cloud_model"
        text {}
      }
    }
    fields {
      key: "appOwner"
      value { from: "it_application_owner.name" reference { $USER } }
    }
    fields {
      key: "itOwner"
      value { from: "u_primary_it_owner.name" reference { $USER } }
    }
    fields {
      key: "l3"
      value { from: "u_l3_name.name" reference { $USER } }
    }
    fields {
      key: "regulatory"
      value {
        from: "u_regulatory_legal_and_compliance"
        split: ","
        join: "|"
        reference { app_id: 723 match_field_id: 24045 on_missing: ON_MISSING_SKIP }
      }
    }
  }
  trigger { key: "Payroll" }
  mode: SYNC_MODE_RESPOND
  connections {
    servicenow_instance_url: "https://acme.service-now.com"
    servicenow_authorization: "Basic YWRtaW46c2FuZGJveA=="
    onspring_api_key: "sandbox-key"
  }
)pb";
constexpr char kExpectedUserReference[] = R"pb(
  app_id: 2
  match_field_id: 56
  on_missing: ON_MISSING_CREATE
  create { key: 46 value: "{value|first_word}" }
  create { key: 39 value: "{value|rest_words}" }
  create { key: 43 value: "{value|first_space_to_dot|lower}" }
  create { key: 40 value: "{value|first_space_to_dot|lower}@example.com" }
  create { key: 1 value: "0c2b1e4a-status" }
  create { key: 17695 value: "8f3d9a77-tier" }
)pb";

std::string ToJson(const Struct& body) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(body, &json).ok());
  return json;
}

// kPocBody after `edit`.
std::string PocBody(const std::function<void(Struct&)>& edit = [](Struct&) {}) {
  Struct body = ParseJson(kPocBody);
  edit(body);
  return ToJson(body);
}

std::function<void(Struct&)> Remove(std::string member) {
  return [member](Struct& body) { body.mutable_fields()->erase(member); };
}
std::function<void(Struct&)> SetNumber(std::string member, double number) {
  return
      [member, number](Struct& body) { (*body.mutable_fields())[member].set_number_value(number); };
}
std::function<void(Struct&)> SetString(std::string member, std::string text) {
  return [member, text](Struct& body) { (*body.mutable_fields())[member].set_string_value(text); };
}

struct Rejection {
  std::string what;
  std::function<void(Struct&)> edit;
  // The field the message must start with, and a part of the rule it must state.
  std::string field;
  std::string rule;
};

std::vector<Rejection> Rejections() {
  std::vector<Rejection> cases;
  for (const char* member : kStringMembers) {
    cases.push_back({"missing", Remove(member), member, "is required"});
    cases.push_back({"empty", SetString(member, ""), member, "must be a non-empty string"});
    cases.push_back(
        {"a number", SetNumber(member, 5), member, "must be a non-empty string, not a number"});
    cases.push_back({"null",
                     [member](Struct& body) {
                       (*body.mutable_fields())[member].set_null_value(
                           google::protobuf::NULL_VALUE);
                     },
                     member, "must be a non-empty string, not null"});
  }
  for (const char* member : kIdMembers) {
    cases.push_back({"missing", Remove(member), member, "is required"});
    cases.push_back(
        {"a string", SetString(member, "2"), member, "must be an integer >= 1, not a string"});
    cases.push_back(
        {"a boolean",
         [member](Struct& body) { (*body.mutable_fields())[member].set_bool_value(true); }, member,
         "must be an integer >= 1, not a boolean"});
    cases.push_back({"0", SetNumber(member, 0), member, "must be an integer >= 1"});
    cases.push_back({"-1", SetNumber(member, -1), member, "must be an integer >= 1"});
    cases.push_back({"1.5", SetNumber(member, 1.5), member, "must be an integer >= 1"});
    cases.push_back(
        {"2^31", SetNumber(member, 2147483648.0), member, "must be an integer <= 2147483647"});
  }
  for (const char* url : {"ftp://acme.service-now.com", "acme.service-now.com", "https://",
                          "https://admin:pw@acme.service-now.com", "file:///etc/passwd",
                          "javascript:alert(1)", "https://acme service-now.com"}) {
    cases.push_back({url, SetString("serviceNowBaseUrl", url), "serviceNowBaseUrl",
                     "must be an absolute http:// or https:// URL with a host"});
  }
  cases.push_back({"tier field = status field", SetNumber("onspringUserTierFieldId", 1),
                   "onspringUserTierFieldId",
                   "must differ from onspringUserStatusFieldId (both are 1)"});
  cases.push_back({"email field = first name field", SetNumber("onspringUserEmailFieldId", 46),
                   "onspringUserEmailFieldId",
                   "must differ from onspringUserFirstNameFieldId (both are 46)"});
  cases.push_back({"username field = last name field", SetNumber("onspringUserUsernameFieldId", 39),
                   "onspringUserUsernameFieldId", "must differ from onspringUserLastNameFieldId"});
  cases.push_back({"brace in status", SetString("onspringUserStatusValue", "{value}"),
                   "onspringUserStatusValue", "must not contain { or }"});
  cases.push_back({"brace in tier", SetString("onspringUserTierValue", "tier}"),
                   "onspringUserTierValue", "must not contain { or }"});
  cases.push_back({"the first of several violations",
                   [](Struct& body) {
                     body.mutable_fields()->erase("onspringRegTypeIdFieldId");
                     body.mutable_fields()->erase("onspringUserTierFieldId");
                     (*body.mutable_fields())["onspringUserStatusValue"].set_string_value("");
                   },
                   "onspringUserTierFieldId", "is required"});
  cases.push_back({"the first of several violations",
                   [](Struct& body) {
                     body.mutable_fields()->erase("onspringUserAppId");
                     (*body.mutable_fields())["appName"].set_number_value(3);
                   },
                   "appName", "must be a non-empty string, not a number"});
  return cases;
}

class SyncRouteTest : public SyncRoutesTest {
 protected:
  absl::StatusOr<HttpResult> PostSync(const std::string& body, Headers headers) {
    return Request("POST", "/sync", body, std::move(headers));
  }
  absl::StatusOr<HttpResult> PostSync(const std::string& body) {
    return PostSync(
        body, {{"Authorization", kAuthorization}, {"x-apikey", kApiKey}, {"Content-Type", kJson}});
  }

  // Answers the next calls with `values` (JSON) and `warnings` (text format).
  void AnswerValues(const std::string& values, const std::string& warnings = "") {
    onsync::v1::SyncRecordResponse response;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        absl::StrCat("result { mode: SYNC_MODE_RESPOND ", warnings, " }"), &response));
    *response.mutable_result()->mutable_values() = ParseJson(values);
    fake_.Answer(std::move(response));
  }
};

TEST_F(SyncRouteTest, EveryValidationRuleIs400NamingTheFieldWithoutACall) {
  for (const Rejection& rejection : Rejections()) {
    SCOPED_TRACE(absl::StrCat(rejection.field, " ", rejection.what));
    const absl::StatusOr<HttpResult> result = PostSync(PocBody(rejection.edit));
    ExpectError(result, 400, 3, absl::StrCat(rejection.field, ": ", rejection.rule));
    EXPECT_THAT(ParseJson(result->body).fields().at("message").string_value(),
                StartsWith(absl::StrCat(rejection.field, ": ")));
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, BodyThatIsNotAJsonObjectIs400) {
  for (const char* body : {"", "[]", "\"Payroll\"", "null", "{\"appName\": ", "not json"}) {
    SCOPED_TRACE(body);
    ExpectError(PostSync(body), 400, 3, "must be a JSON object");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, MissingOrBlankCredentialsAre401BeforeTheBody) {
  const std::vector<std::pair<Headers, std::string>> cases = {
      {{{"x-apikey", kApiKey}}, "Authorization"},
      {{{"Authorization", "  "}, {"x-apikey", kApiKey}}, "Authorization"},
      {{{"Authorization", kAuthorization}}, "x-apikey"},
      {{{"Authorization", kAuthorization}, {"x-apikey", " \t "}}, "x-apikey"},
      {{}, "Authorization"},
  };
  for (const auto& [headers, named] : cases) {
    SCOPED_TRACE(named);
    Headers with_type = headers;
    with_type.emplace_back("Content-Type", kJson);
    for (const std::string& body : {PocBody(), std::string("not json")}) {
      const absl::StatusOr<HttpResult> result = PostSync(body, with_type);
      ExpectError(result, 401, 16, named);
      EXPECT_EQ(result->Header("www-authenticate").value_or(""), R"(Basic realm="onsync")");
    }
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, NonJsonContentTypeIs415) {
  ExpectError(PostSync(PocBody(), {{"Authorization", kAuthorization},
                                   {"x-apikey", kApiKey},
                                   {"Content-Type", "text/plain"}}),
              415, 3, "application/json");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    const absl::StatusOr<HttpResult> result =
        Request(method, "/sync", "", {{"Authorization", kAuthorization}, {"x-apikey", kApiKey}});
    ExpectError(result, 405, 12, "not allowed");
    EXPECT_EQ(result->Header("allow").value_or(""), "POST");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, SendsTheInlineProfileTriggerAndConnections) {
  AnswerValues("{}");
  const absl::StatusOr<HttpResult> result = PostSync(PocBody());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;

  std::string expected_text = kExpectedRequest;
  for (size_t at; (at = expected_text.find("$USER")) != std::string::npos;) {
    expected_text.replace(at, 5, kExpectedUserReference);
  }
  onsync::v1::SyncRecordRequest expected;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(expected_text, &expected));
  const std::vector<onsync::testing::ReceivedSync> calls = fake_.calls();
  ASSERT_THAT(calls, SizeIs(1));
  std::string differences;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, calls[0].request)) << differences;
}

TEST_F(SyncRouteTest, AbsentContentTypeIsAccepted) {
  AnswerValues("{}");
  const absl::StatusOr<HttpResult> result =
      PostSync(PocBody(), {{"Authorization", kAuthorization}, {"x-apikey", kApiKey}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_THAT(fake_.calls(), SizeIs(1));
}

TEST_F(SyncRouteTest, AnswersThePocObjectInItsKeyOrder) {
  AnswerValues(R"({"regulatory": "7|9", "l3": null, "itOwner": 13, "appOwner": 12,
                   "installType": "SaaS", "description": "Pays \"people\"",
                   "shortName": "APM0001", "appName": "Payroll", "extra": true})");
  const absl::StatusOr<HttpResult> result = PostSync(PocBody());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
  EXPECT_EQ(result->body,
            R"({"appName":"Payroll","shortName":"APM0001","description":"Pays \"people\"",)"
            R"("installType":"SaaS","cloudModel":null,"appOwner":12,"itOwner":13,"l3":null,)"
            R"("regulatory":"7|9"})");
  EXPECT_FALSE(result->Header("onsync-warnings").has_value());
}

TEST_F(SyncRouteTest, WarningsGoInTheOnsyncWarningsHeader) {
  AnswerValues(R"({"appName": "Payroll", "l3": null})",
               R"pb(warnings { code: "EMPTY_REFERENCE" field: "l3" message: "empty" }
                    warnings { code: "REFERENCE_NOT_FOUND" field: "regulatory" }
                    warnings { code: "SLOW_UPSTREAM" })pb");
  const absl::StatusOr<HttpResult> result = PostSync(PocBody());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->Header("onsync-warnings").value_or(""),
            "EMPTY_REFERENCE:l3, REFERENCE_NOT_FOUND:regulatory, SLOW_UPSTREAM");
}

TEST_F(SyncRouteTest, ServerErrorsMapThroughTheTable) {
  const struct {
    grpc::StatusCode code;
    int http_status;
  } table[] = {
      {grpc::StatusCode::NOT_FOUND, 404},          {grpc::StatusCode::ABORTED, 409},
      {grpc::StatusCode::UNAVAILABLE, 503},        {grpc::StatusCode::DEADLINE_EXCEEDED, 504},
      {grpc::StatusCode::PERMISSION_DENIED, 403},  {grpc::StatusCode::INVALID_ARGUMENT, 400},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, 429}, {grpc::StatusCode::FAILED_PRECONDITION, 400},
  };
  for (const auto& [code, http_status] : table) {
    SCOPED_TRACE(http_status);
    fake_.Fail(grpc::Status(code, "upstream says \"no\""));
    ExpectError(PostSync(PocBody()), http_status, static_cast<int>(code), "upstream says \"no\"");
  }
}

TEST_F(SyncRouteTest, AServerAtCapacityIs503WithItsRetryAfter) {
  fake_.Fail(ToGrpcStatus(WithRetryAfter(absl::UnavailableError("at capacity"), absl::Seconds(2))));
  const absl::StatusOr<HttpResult> result = PostSync(PocBody());
  ExpectError(result, 503, static_cast<int>(grpc::StatusCode::UNAVAILABLE), "at capacity");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->Header("retry-after"), "2");

  // Without a hint, no header.
  fake_.Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  const absl::StatusOr<HttpResult> plain = PostSync(PocBody());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->status, 503);
  EXPECT_EQ(plain->Header("retry-after"), std::nullopt);
}

TEST_F(SyncRouteTest, DeadlineAndTracingHeadersTravelWithTheCall) {
  AnswerValues("{}");
  ASSERT_TRUE(PostSync(PocBody()).ok());
  ASSERT_TRUE(PostSync(PocBody(), {{"Authorization", kAuthorization},
                                   {"x-apikey", kApiKey},
                                   {"grpc-timeout", "3S"},
                                   {"x-request-id", "req-42"},
                                   {"traceparent",
                                    "00-0af7651916cd43dd8448eb211c80319c-"
                                    "b7ad6b7169203331-01"}})
                  .ok());
  ASSERT_TRUE(
      PostSync(PocBody(),
               {{"Authorization", kAuthorization}, {"x-apikey", kApiKey}, {"grpc-timeout", "1H"}})
          .ok());
  const std::vector<onsync::testing::ReceivedSync> calls = fake_.calls();
  ASSERT_THAT(calls, SizeIs(3));
  EXPECT_GT(calls[0].time_left, kDefaultDeadline - absl::Seconds(2));
  EXPECT_LE(calls[0].time_left, kDefaultDeadline + kTimeoutRounding);
  EXPECT_FALSE(calls[0].metadata.contains("x-request-id"));
  // No traceparent: the gateway starts a trace.
  ASSERT_TRUE(calls[0].metadata.contains("traceparent"));
  EXPECT_TRUE(ParseTraceparent(calls[0].metadata.find("traceparent")->second).has_value());

  EXPECT_GT(calls[1].time_left, absl::Seconds(1));
  EXPECT_LE(calls[1].time_left, absl::Seconds(3) + kTimeoutRounding);
  EXPECT_EQ(calls[1].metadata.find("x-request-id")->second, "req-42");
  // The caller's trace, continued with the gateway's own parent id.
  ASSERT_TRUE(calls[1].metadata.contains("traceparent"));
  const std::optional<TraceContext> forwarded =
      ParseTraceparent(calls[1].metadata.find("traceparent")->second);
  ASSERT_TRUE(forwarded.has_value());
  EXPECT_EQ(forwarded->trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_NE(forwarded->parent_id, "b7ad6b7169203331");
  EXPECT_EQ(forwarded->flags, 1);
  EXPECT_NE(ParseTraceparent(calls[2].metadata.find("traceparent")->second)->trace_id,
            ParseTraceparent(calls[0].metadata.find("traceparent")->second)->trace_id);
  // The credentials travel in the request message only, never as metadata.
  EXPECT_FALSE(calls[1].metadata.contains("authorization"));
  EXPECT_FALSE(calls[1].metadata.contains("x-apikey"));

  EXPECT_GT(calls[2].time_left, kMaxDeadline - absl::Seconds(2));
  EXPECT_LE(calls[2].time_left, kMaxDeadline + kTimeoutRounding);
}

TEST_F(SyncRouteTest, MalformedGrpcTimeoutIs400WithoutACall) {
  ExpectError(PostSync(PocBody(), {{"Authorization", kAuthorization},
                                   {"x-apikey", kApiKey},
                                   {"grpc-timeout", "soon"}}),
              400, 3, "grpc-timeout");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(SyncRouteTest, NearbyPathsAreNotTheRoute) {
  for (const char* path : {"/sync/", "/sync/x", "/SYNC", "/syncs"}) {
    ExpectError(Request("POST", path, PocBody(),
                        {{"Authorization", kAuthorization}, {"x-apikey", kApiKey}}),
                404, 5, "no route");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

}  // namespace
}  // namespace onsync::gateway

namespace onsync::testing {
namespace {

// The gateway balances calls over every address of its server target (round_robin).
TEST(GatewayBalancingTest, CallsAreSpreadOverEveryServerAddress) {
  FakeSyncService first;
  FakeSyncService second;
  std::vector<std::unique_ptr<grpc::Server>> servers;
  std::vector<int> ports;
  for (FakeSyncService* fake : {&first, &second}) {
    onsync::v1::SyncRecordResponse response;
    response.mutable_result()->set_mode(onsync::v1::SYNC_MODE_RESPOND);
    response.mutable_result()->mutable_values();
    fake->Answer(std::move(response));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(fake);
    servers.push_back(builder.BuildAndStart());
    ASSERT_NE(servers.back(), nullptr);
    ports.push_back(port);
  }
  gateway::GatewayOptions options;
  options.listen = "127.0.0.1:0";
  options.server = absl::StrCat("ipv4:127.0.0.1:", ports[0], ",127.0.0.1:", ports[1]);
  auto gateway = gateway::Gateway::Start(std::move(options));
  ASSERT_TRUE(gateway.ok()) << gateway.status();

  const auto call = [&] {
    auto result = HttpRequest("127.0.0.1", (*gateway)->port(), "POST", "/v1/outcomes/p",
                              R"({"recordId": 1})", {{"Content-Type", "application/json"}});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200) << result->body;
  };
  // Until both connections are up, the ready one takes the calls.
  for (int i = 0; i < 200 && (first.calls().empty() || second.calls().empty()); ++i) {
    ASSERT_NO_FATAL_FAILURE(call());
  }
  ASSERT_FALSE(first.calls().empty());
  ASSERT_FALSE(second.calls().empty());
  // Then the calls alternate.
  const size_t first_before = first.calls().size();
  const size_t second_before = second.calls().size();
  constexpr size_t kCalls = 20;
  for (size_t i = 0; i < kCalls; ++i) ASSERT_NO_FATAL_FAILURE(call());
  EXPECT_EQ(first.calls().size() - first_before, kCalls / 2);
  EXPECT_EQ(second.calls().size() - second_before, kCalls / 2);
  (*gateway).reset();
  for (auto& server : servers) server->Shutdown();
}

}  // namespace
}  // namespace onsync::testing
