// The pure parts of `POST /sync`: what PocSyncRequest accepts and how PocResponseBody writes. The
// HTTP behaviour, every rejection included, is in sync_route_http_test.cc.
#include "gateway/routes/sync_route.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;

Struct ParseStruct(const std::string& json) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

// The PoC's outcome body (reference/poc-outcome.md).
Struct PocBody() {
  return ParseStruct(R"({
    "serviceNowBaseUrl": "https://acme.service-now.com", "appName": "Payroll",
    "onspringUserAppId": 2, "onspringUserFirstNameFieldId": 46, "onspringUserLastNameFieldId": 39,
    "onspringUserUsernameFieldId": 43, "onspringUserEmailFieldId": 40,
    "onspringUserStatusFieldId": 1, "onspringUserStatusValue": "status-guid",
    "onspringUserTierFieldId": 17695, "onspringUserTierValue": "tier-guid",
    "onspringUserFullNameFieldId": 56, "onspringRegTypeAppId": 723,
    "onspringRegTypeIdFieldId": 24045})");
}

TEST(PocSyncRequestTest, AcceptsHttpAndHttpsUrlsWithHostsPortsAndPaths) {
  for (const char* url :
       {"https://acme.service-now.com", "http://127.0.0.1:8081", "HTTPS://Acme.Service-Now.com/",
        "https://acme.service-now.com:443/sub/path?x=1", "http://[::1]:8081", "http://[::1]",
        "https://my_instance.example.com#frag"}) {
    Struct body = PocBody();
    (*body.mutable_fields())["serviceNowBaseUrl"].set_string_value(url);
    const auto request = PocSyncRequest(body, "Basic x", "key");
    ASSERT_TRUE(request.ok()) << url << ": " << request.status();
    EXPECT_EQ(request->connections().servicenow_instance_url(), url);
  }
}

TEST(PocSyncRequestTest, RejectsUrlsWithoutHttpSchemeOrHost) {
  for (const char* url :
       {"ftp://acme.service-now.com", "acme.service-now.com", "https://", "https:///path",
        "https://user:pass@acme.service-now.com",
        "https://acme.service-now.com:", "https://acme.service-now.com:99999",
        "https://acme.service-now.com:80x", "https://acme .service-now.com", "javascript:alert(1)",
        "https://[::1", "https://[]", "https://[::1]x", "//acme.service-now.com"}) {
    Struct body = PocBody();
    (*body.mutable_fields())["serviceNowBaseUrl"].set_string_value(url);
    const auto request = PocSyncRequest(body, "Basic x", "key");
    EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(std::string(request.status().message()),
                ::testing::StartsWith("serviceNowBaseUrl: "))
        << url;
  }
}

TEST(PocSyncRequestTest, IdsFromOneToInt32MaxAreAccepted) {
  Struct body = PocBody();
  (*body.mutable_fields())["onspringUserAppId"].set_number_value(1);
  (*body.mutable_fields())["onspringRegTypeAppId"].set_number_value(2147483647);
  (*body.mutable_fields())["onspringRegTypeIdFieldId"].set_number_value(7.0);
  const auto request = PocSyncRequest(body, "Basic x", "key");
  ASSERT_TRUE(request.ok()) << request.status();
  const auto& fields = request->inline_profile().fields();
  EXPECT_EQ(fields.at("appOwner").reference().app_id(), 1);
  EXPECT_EQ(fields.at("regulatory").reference().app_id(), 2147483647);
  EXPECT_EQ(fields.at("regulatory").reference().match_field_id(), 7);
}

TEST(PocSyncRequestTest, UnknownKeysAreIgnoredAndCredentialsPassVerbatim) {
  Struct body = PocBody();
  (*body.mutable_fields())["colour"].set_string_value("red");
  const auto request = PocSyncRequest(body, " Basic YWRtaW46c2FuZGJveA== ", "sandbox-key");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->connections().servicenow_authorization(), " Basic YWRtaW46c2FuZGJveA== ");
  EXPECT_EQ(request->connections().onspring_api_key(), "sandbox-key");
  EXPECT_EQ(request->trigger().key(), "Payroll");
}

TEST(PocSyncRequestTest, FullNameFieldMayShareAnIdWithACreatedField) {
  // Only the six fields written into a created user must be distinct; the match field is read.
  Struct body = PocBody();
  (*body.mutable_fields())["onspringUserFullNameFieldId"].set_number_value(46);
  EXPECT_TRUE(PocSyncRequest(body, "Basic x", "key").ok());
}

TEST(PocResponseBodyTest, PocKeysInOrderMissingOnesNull) {
  const Struct values = ParseStruct(R"({
    "regulatory": "7|9", "l3": null, "itOwner": 13, "appOwner": 12.0, "description": "",
    "shortName": "APM0001", "appName": "O'Brien \"Ledger\"", "extra": "left out"})");
  EXPECT_EQ(PocResponseBody(values),
            R"({"appName":"O'Brien \"Ledger\"","shortName":"APM0001","description":"",)"
            R"("installType":null,"cloudModel":null,"appOwner":12,"itOwner":13,"l3":null,)"
            R"("regulatory":"7|9"})");
  EXPECT_EQ(PocResponseBody(Struct()),
            R"({"appName":null,"shortName":null,"description":null,"installType":null,)"
            R"("cloudModel":null,"appOwner":null,"itOwner":null,"l3":null,"regulatory":null})");
}

}  // namespace
}  // namespace onsync::gateway
