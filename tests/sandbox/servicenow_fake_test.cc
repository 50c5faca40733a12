// The fake ServiceNow over real HTTP: Table API queries, shapes, paging headers, errors and
// OAuth, against the default seed.
#include <string>

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
using ::testing::UnorderedElementsAre;

constexpr char kUnauthenticated[] =
    R"({"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"})";
constexpr char kNoRecord[] =
    R"({"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"})";
constexpr char kOAuthDenied[] = R"({"error_description":"access_denied","error":"server_error"})";

class ServiceNowFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = StartSandbox();
    ASSERT_NE(sandbox_, nullptr);
    port_ = sandbox_->servicenow_port();
  }

  HttpResult Get(std::string_view target, Headers headers = AdminBasic()) {
    return Call(port_, "GET", target, "", std::move(headers));
  }

  // The "name" of every result row.
  static std::vector<std::string> Names(const HttpResult& result) {
    std::vector<std::string> names;
    rapidjson::Document body = Json(result.body);
    for (const rapidjson::Value& row : body["result"].GetArray()) {
      names.emplace_back(View(row["name"]));
    }
    return names;
  }

  std::unique_ptr<Sandbox> sandbox_;
  int port_ = 0;
};

TEST_F(ServiceNowFakeTest, LookupByNameWithDotWalkedFields) {
  const HttpResult result =
      Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DPayroll"
          "&sysparm_fields=sys_id,name,it_application_owner,it_application_owner.name,"
          "it_application_owner.user_name,no_such_field&sysparm_limit=2");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.Header("content-type"), "application/json;charset=UTF-8");
  const std::string origin = sandbox_->servicenow_url();
  EXPECT_EQ(result.body, absl::StrCat(R"({"result":[{"sys_id":")", seed::kPayrollSysId,
                                      R"(","name":"Payroll","it_application_owner":{"link":")",
                                      origin, "/api/now/table/sys_user/", seed::kFredSysId,
                                      R"(","value":")", seed::kFredSysId,
                                      R"("},"it_application_owner.name":"Fred Jones",)"
                                      R"("it_application_owner.user_name":"fred.jones"}]})"));
  EXPECT_EQ(result.Header("x-total-count"), "1");
}

TEST_F(ServiceNowFakeTest, EscapedCaretQuotesAndUnicodeMatchExactly) {
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DPay%5E%5ERoll")),
              ::testing::ElementsAre("Pay^Roll"));
  // Unescaped, the caret splits the query: "Roll" is dropped and "name=Pay" matches nothing.
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DPay%5ERoll")),
              ::testing::IsEmpty());
  EXPECT_THAT(
      Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DO'Brien%20Ledger")),
      ::testing::ElementsAre("O'Brien Ledger"));
  EXPECT_THAT(Names(Get("/api/now/table/"
                        "cmdb_ci_business_app?sysparm_query=name%3DZo%C3%AB%20%E2%9C%93%20Portal")),
              ::testing::ElementsAre("Zoë ✓ Portal"));
  // '+' in a query string is a space (servlet decoding), as the reference warns.
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DLegacy+CRM")),
              ::testing::ElementsAre("Legacy CRM"));
}

TEST_F(ServiceNowFakeTest, UnknownFieldTermsAreSilentlyDropped) {
  const HttpResult result =
      Get("/api/now/table/cmdb_ci_business_app?sysparm_query=nmae%3DPayroll&sysparm_fields=name");
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(Names(result).size(), static_cast<size_t>(seed::kBusinessApps));
  EXPECT_EQ(result.Header("x-total-count"), absl::StrCat(seed::kBusinessApps));
  // `field=value` URL filters on unknown fields are dropped too.
  EXPECT_EQ(Names(Get("/api/now/table/cmdb_ci_business_app?query=number%3DAPM0001001")).size(),
            static_cast<size_t>(seed::kBusinessApps));
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?number=APM0001001")),
              ::testing::ElementsAre("Payroll"));
}

TEST_F(ServiceNowFakeTest, QueryOperatorsOrAndOrdering) {
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query="
                        "nameSTARTSWITHPayroll%5EORDERBYDESCname")),
              ::testing::ElementsAre("Payroll Archive", "Payroll"));
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query="
                        "name%3DPayroll%5EORname%3DLegacy%20CRM%5EORDERBYname")),
              ::testing::ElementsAre("Legacy CRM", "Payroll"));
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query=u_l3_nameISEMPTY")),
              ::testing::ElementsAre("Customer Portal"));
  EXPECT_THAT(Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query="
                        "it_application_owner.name%3DBeth%20Anglin%5EORDERBYname")),
              ::testing::ElementsAre("Pay^Roll", "Payroll Archive"));
  EXPECT_THAT(
      Names(Get("/api/now/table/cmdb_ci_business_app?sysparm_query="
                "sys_updated_on%3E%3D2024-05-03%2000:00:00%5EORDERBYsys_updated_on%5EORDERBYname")),
      ::testing::ElementsAre("Customer Portal", "Legacy CRM", "Payroll Archive"));
}

TEST_F(ServiceNowFakeTest, DisplayValuesAndReferenceShapes) {
  const std::string fields =
      "&sysparm_fields=name,install_type,it_application_owner,u_l3_name&sysparm_query=name%3D";
  const std::string user_link =
      absl::StrCat(sandbox_->servicenow_url(), "/api/now/table/sys_user/", seed::kFredSysId);
  HttpResult result =
      Get(absl::StrCat("/api/now/table/cmdb_ci_business_app?sysparm_display_value=true", fields,
                       "Customer%20Portal"));
  EXPECT_EQ(
      result.body,
      absl::StrCat(R"({"result":[{"name":"Customer Portal","install_type":"Third Party Hosted",)",
                   R"("it_application_owner":{"display_value":"Fred Jones","link":")", user_link,
                   R"("},"u_l3_name":""}]})"));
  result = Get(absl::StrCat(
      "/api/now/table/"
      "cmdb_ci_business_app?sysparm_display_value=true&sysparm_exclude_reference_link=true",
      fields, "Customer%20Portal"));
  EXPECT_EQ(result.body,
            R"({"result":[{"name":"Customer Portal","install_type":"Third Party Hosted",)"
            R"("it_application_owner":"Fred Jones","u_l3_name":""}]})");
  result = Get(absl::StrCat("/api/now/table/cmdb_ci_business_app?sysparm_display_value=all", fields,
                            "Customer%20Portal"));
  EXPECT_EQ(
      result.body,
      absl::StrCat(
          R"({"result":[{"name":{"display_value":"Customer Portal","value":"Customer Portal"},)",
          R"("install_type":{"display_value":"Third Party Hosted","value":"Third Party Hosted"},)",
          R"("it_application_owner":{"display_value":"Fred Jones","link":")", user_link,
          R"(","value":")", seed::kFredSysId,
          R"("},"u_l3_name":{"display_value":"","value":""}}]})"));
  result =
      Get(absl::StrCat("/api/now/table/cmdb_ci_business_app?sysparm_exclude_reference_link=true",
                       fields, "Customer%20Portal"));
  EXPECT_EQ(
      result.body,
      absl::StrCat(R"({"result":[{"name":"Customer Portal","install_type":"Third Party Hosted",)",
                   R"("it_application_owner":")", seed::kFredSysId, R"(","u_l3_name":""}]})"));
  // The link follows the version of the request; dot-walked references keep the shape.
  result =
      Get("/api/now/v2/table/cmdb_ci_business_app?sysparm_fields=it_application_owner.manager"
          "&sysparm_query=name%3DPayroll");
  EXPECT_EQ(result.body,
            absl::StrCat(R"({"result":[{"it_application_owner.manager":{"link":")",
                         sandbox_->servicenow_url(), "/api/now/v2/table/sys_user/",
                         seed::kBethSysId, R"(","value":")", seed::kBethSysId, R"("}}]})"));
}

TEST_F(ServiceNowFakeTest, AllFieldsIncludeSystemColumnsAsStrings) {
  const HttpResult result = Get(absl::StrCat("/api/now/table/sys_user/", seed::kFredSysId));
  ASSERT_EQ(result.status, 200);
  rapidjson::Document body = Json(result.body);
  const rapidjson::Value& user = body["result"];
  EXPECT_EQ(View(user["sys_id"]), seed::kFredSysId);
  EXPECT_EQ(View(user["active"]), "true");
  EXPECT_EQ(View(user["sys_mod_count"]), "0");
  EXPECT_EQ(View(user["sys_class_name"]), "sys_user");
  EXPECT_EQ(View(user["sys_updated_on"]).size(), 19u);  // YYYY-MM-DD HH:MM:SS
  EXPECT_TRUE(user["manager"].IsObject());
}

TEST_F(ServiceNowFakeTest, PagingHeadersAsTheRealOneFormatsThem) {
  const std::string path = "/api/now/table/cmdb_ci_business_app";
  const std::string base = absl::StrCat(sandbox_->servicenow_url(), path,
                                        "?sysparm_fields=name&sysparm_limit=2&sysparm_offset=");
  HttpResult result = Get(absl::StrCat(path, "?sysparm_fields=name&sysparm_limit=2"));
  EXPECT_EQ(result.Header("x-total-count"), "7");
  EXPECT_EQ(result.Header("link"),
            absl::StrCat("<", base, "0>;rel=\"first\",<", base, "-2>;rel=\"prev\",<", base,
                         "2>;rel=\"next\",<", base, "6>;rel=\"last\""));
  EXPECT_EQ(Names(result).size(), 2u);
  // The offset moves to the end; other parameters are echoed as sent.
  result = Get(absl::StrCat(path, "?sysparm_offset=6&sysparm_fields=name&sysparm_limit=2"));
  EXPECT_EQ(result.Header("link"), absl::StrCat("<", base, "0>;rel=\"first\",<", base,
                                                "4>;rel=\"prev\",<", base, "6>;rel=\"last\""));
  EXPECT_EQ(Names(result).size(), 1u);
  // Without sysparm_limit the default (10000) is applied and named in the links.
  result = Get(absl::StrCat(path, "?sysparm_fields=name"));
  EXPECT_EQ(Names(result).size(), 7u);
  EXPECT_THAT(result.Header("link").value_or(""),
              HasSubstr("sysparm_limit=10000&sysparm_offset=0>"));
  // No count: no X-Total-Count and no "last".
  result = Get(absl::StrCat(path, "?sysparm_fields=name&sysparm_limit=2&sysparm_no_count=true"));
  EXPECT_EQ(result.Header("x-total-count"), std::nullopt);
  EXPECT_THAT(result.Header("link").value_or(""), Not(HasSubstr("rel=\"last\"")));
  EXPECT_THAT(result.Header("link").value_or(""), HasSubstr("rel=\"next\""));
  result = Get(absl::StrCat(path, "?sysparm_limit=2&sysparm_suppress_pagination_header=true"));
  EXPECT_EQ(result.Header("link"), std::nullopt);
  EXPECT_EQ(result.Header("x-total-count"), "7");
}

TEST_F(ServiceNowFakeTest, EmptyResultsByVersion) {
  HttpResult result = Get("/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DNothing");
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, R"({"result":[]})");
  EXPECT_EQ(Get("/api/now/v2/table/cmdb_ci_business_app?sysparm_query=name%3DNothing").status, 200);
  result = Get("/api/now/v1/table/cmdb_ci_business_app?sysparm_query=name%3DNothing");
  EXPECT_EQ(result.status, 404);
  EXPECT_EQ(result.body, kNoRecord);
}

TEST_F(ServiceNowFakeTest, ErrorsHaveTheRealBodies) {
  HttpResult result = Get("/api/now/table/no_such_table");
  EXPECT_EQ(result.status, 400);
  EXPECT_EQ(
      result.body,
      R"({"error":{"message":"Invalid table no_such_table","detail":null},"status":"failure"})");
  result = Get("/api/now/table/sys_user/0123456789abcdef0123456789abcdef");
  EXPECT_EQ(result.status, 404);
  EXPECT_EQ(result.body, kNoRecord);
  result = Get("/api/now/table/sys_user", {});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, kUnauthenticated);
  EXPECT_EQ(result.Header("www-authenticate"), "Basic realm=\"Service-now\"");
  result = Get("/api/now/table/sys_user", {BasicAuth("admin", "wrong")});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, kUnauthenticated);
  result = Get("/api/now/table/sys_user", {{"Authorization", "Bearer not-a-token"}});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, kUnauthenticated);
}

TEST_F(ServiceNowFakeTest, OAuthTokenFlow) {
  const Headers form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  HttpResult result =
      Call(port_, "POST", "/oauth_token.do",
           "grant_type=password&client_id=sandbox-client&client_secret=sandbox-secret"
           "&username=admin&password=sandbox",
           form);
  ASSERT_EQ(result.status, 200) << result.body;
  rapidjson::Document token = Json(result.body);
  EXPECT_EQ(View(token["scope"]), "useraccount");
  EXPECT_EQ(View(token["token_type"]), "Bearer");
  EXPECT_EQ(token["expires_in"].GetInt(), 1799);
  const std::string access(View(token["access_token"]));
  const std::string refresh(View(token["refresh_token"]));
  EXPECT_FALSE(access.empty());
  EXPECT_FALSE(refresh.empty());
  // The same token while it is valid.
  result = Call(port_, "POST", "/oauth_token.do",
                "grant_type=password&client_id=sandbox-client&client_secret=sandbox-secret"
                "&username=admin&password=sandbox",
                form);
  EXPECT_EQ(View(Json(result.body)["access_token"]), access);

  const Headers bearer = {{"Authorization", absl::StrCat("Bearer ", access)}};
  EXPECT_EQ(Get("/api/now/table/sys_user?sysparm_limit=1", bearer).status, 200);

  // A refresh mints a new access token and keeps the refresh token.
  result = Call(port_, "POST", "/oauth_token.do",
                absl::StrCat("grant_type=refresh_token&client_id=sandbox-client"
                             "&client_secret=sandbox-secret&refresh_token=",
                             refresh),
                form);
  ASSERT_EQ(result.status, 200) << result.body;
  token = Json(result.body);
  EXPECT_NE(View(token["access_token"]), access);
  EXPECT_EQ(View(token["refresh_token"]), refresh);

  // Expired tokens get the usual 401.
  sandbox_->servicenow().ExpireAccessTokens();
  result = Get("/api/now/table/sys_user", bearer);
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, kUnauthenticated);

  // client_credentials: a token, no refresh token.
  result = Call(
      port_, "POST", "/oauth_token.do",
      "grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret", form);
  ASSERT_EQ(result.status, 200);
  token = Json(result.body);
  EXPECT_FALSE(token.HasMember("refresh_token"));
  EXPECT_EQ(Get("/api/now/table/sys_user?sysparm_limit=1",
                {{"Authorization", absl::StrCat("Bearer ", Str(token["access_token"]))}})
                .status,
            200);
}

TEST_F(ServiceNowFakeTest, OAuthFailures) {
  const Headers form = {{"Content-Type", "application/x-www-form-urlencoded"}};
  for (const std::string body :
       {"grant_type=password&client_id=sandbox-client&client_secret=wrong&username=admin&password="
        "sandbox",
        "grant_type=password&client_id=sandbox-client&client_secret=sandbox-secret&username=admin&"
        "password=x",
        "grant_type=refresh_token&client_id=sandbox-client&client_secret=sandbox-secret&refresh_"
        "token=x",
        "grant_type=magic&client_id=sandbox-client&client_secret=sandbox-secret"}) {
    const HttpResult result = Call(port_, "POST", "/oauth_token.do", body, form);
    EXPECT_EQ(result.status, 401) << body;
    EXPECT_EQ(result.body, kOAuthDenied) << body;
  }
  // JSON is not accepted.
  const HttpResult result = Call(
      port_, "POST", "/oauth_token.do",
      R"({"grant_type":"client_credentials","client_id":"sandbox-client","client_secret":"sandbox-secret"})",
      {{"Content-Type", "application/json"}});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, kOAuthDenied);
}

TEST_F(ServiceNowFakeTest, CreateUpdateDelete) {
  const Headers json = {BasicAuth("admin", "sandbox"), {"Content-Type", "application/json"}};
  HttpResult result =
      Call(port_, "POST", "/api/now/table/sys_user?sysparm_exclude_reference_link=true",
           R"({"user_name":"new.person","name":"New Person","manager":")" +
               std::string(seed::kBethSysId) + R"(","bogus":"ignored"})",
           json);
  ASSERT_EQ(result.status, 201) << result.body;
  rapidjson::Document created = Json(result.body);
  const std::string sys_id(View(created["result"]["sys_id"]));
  EXPECT_EQ(sys_id.size(), 32u);
  EXPECT_EQ(View(created["result"]["manager"]), seed::kBethSysId);
  EXPECT_FALSE(created["result"].HasMember("bogus"));
  EXPECT_THAT(result.Header("location").value_or(""), HasSubstr(sys_id));

  result = Call(port_, "PATCH", absl::StrCat("/api/now/table/sys_user/", sys_id),
                R"({"email":"new@example.com"})", json);
  ASSERT_EQ(result.status, 200);
  rapidjson::Document updated = Json(result.body);
  EXPECT_EQ(View(updated["result"]["email"]), "new@example.com");
  EXPECT_EQ(View(updated["result"]["name"]), "New Person");
  EXPECT_EQ(View(updated["result"]["sys_mod_count"]), "1");

  result = Call(port_, "DELETE", absl::StrCat("/api/now/table/sys_user/", sys_id), "", json);
  EXPECT_EQ(result.status, 204);
  EXPECT_EQ(Get(absl::StrCat("/api/now/table/sys_user/", sys_id)).status, 404);
  EXPECT_EQ(Call(port_, "POST", "/api/now/table/sys_user", "not json", json).status, 400);
}

TEST(ServiceNowAclTest, HiddenRowsLeaveShortPagesButCount) {
  // The default seed with Payroll and Pay^Roll hidden by the simulated ACL.
  rapidjson::Document seed = Json(Sandbox::DefaultSeed());
  for (rapidjson::Value& table : seed["servicenow"]["tables"].GetArray()) {
    if (Str(table["name"]) != "cmdb_ci_business_app") continue;
    rapidjson::Value hidden(rapidjson::kArrayType);
    hidden.PushBack(rapidjson::Value(seed::kPayrollSysId, seed.GetAllocator()),
                    seed.GetAllocator());
    hidden.PushBack(rapidjson::Value("7726987a00686374faea6ca71c72514f", seed.GetAllocator()),
                    seed.GetAllocator());
    table.AddMember("acl_hidden", hidden, seed.GetAllocator());
  }
  SandboxOptions options;
  options.seed_json = ToJson(seed);
  std::unique_ptr<Sandbox> sandbox = StartSandbox(std::move(options));
  ASSERT_NE(sandbox, nullptr);
  const HttpResult result = Call(
      sandbox->servicenow_port(), "GET",
      "/api/now/table/cmdb_ci_business_app?sysparm_fields=name&sysparm_limit=3", "", AdminBasic());
  // The limit applies before the ACL: 3 rows read, 2 hidden, 1 returned; the count ignores it.
  EXPECT_EQ(result.body, R"({"result":[{"name":"O'Brien Ledger"}]})");
  EXPECT_EQ(result.Header("x-total-count"), "7");
  EXPECT_EQ(Call(sandbox->servicenow_port(), "GET",
                 absl::StrCat("/api/now/table/cmdb_ci_business_app/", seed::kPayrollSysId), "",
                 AdminBasic())
                .status,
            404);
}

TEST_F(ServiceNowFakeTest, AggregateCount) {
  const HttpResult result =
      Get("/api/now/stats/cmdb_ci_business_app?sysparm_count=true&sysparm_query=nameSTARTSWITHPay");
  EXPECT_EQ(result.body, R"({"result":{"stats":{"count":"3"}}})");
}

}  // namespace
}  // namespace onsync::sandbox::testing
