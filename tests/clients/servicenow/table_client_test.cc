#include "clients/servicenow/table_client.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "clients/http/http_status.h"
#include "clients/http/redact.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/fake_transport.h"

namespace onsync::clients::servicenow {
namespace {

using ::onsync::clients::testing::Capture;
using ::onsync::clients::testing::FakeTransport;
using ::onsync::clients::testing::IntQueryParam;
using ::onsync::clients::testing::MakeResponse;
using ::onsync::clients::testing::QueryParam;
using ::onsync::clients::testing::RequestHeader;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kInstance[] = "https://acme.service-now.com";
constexpr char kTableUrl[] = "https://acme.service-now.com/api/now/table/";

class TableClientTest : public ::testing::Test {
 protected:
  TableClientTest() : auth_("svc", "pw-secret") {
    absl::StatusOr<std::unique_ptr<TableClient>> client =
        TableClient::Create(transport_, transport_, auth_, "https://ACME.service-now.com/");
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  absl::StatusOr<TablePage> List(ListRequest request) {
    Capture<absl::StatusOr<TablePage>> result;
    client_->List(std::move(request), result.Callback());
    absl::StatusOr<TablePage> page = result.Wait();
    EXPECT_NE(result.thread(), std::this_thread::get_id());
    return page;
  }
  absl::StatusOr<std::vector<Row>> ListAll(ListRequest request) {
    Capture<absl::StatusOr<std::vector<Row>>> result;
    client_->ListAll(std::move(request), result.Callback());
    return result.Wait();
  }
  absl::StatusOr<std::optional<Row>> Lookup(LookupRequest request) {
    Capture<absl::StatusOr<std::optional<Row>>> result;
    client_->LookupByKey(std::move(request), result.Callback());
    absl::StatusOr<std::optional<Row>> row = result.Wait();
    EXPECT_NE(result.thread(), std::this_thread::get_id());
    return row;
  }
  absl::StatusOr<Row> Get(GetRequest request) {
    Capture<absl::StatusOr<Row>> result;
    client_->Get(std::move(request), result.Callback());
    return result.Wait();
  }

  static std::string BasicHeader() {
    return absl::StrCat("Basic ", absl::Base64Escape("svc:pw-secret"));
  }

  FakeTransport transport_;
  BasicAuthenticator auth_;
  std::unique_ptr<TableClient> client_;
};

TEST_F(TableClientTest, CreateNormalizesAndValidatesTheInstance) {
  EXPECT_EQ(client_->origin(), kInstance);
  for (const char* bad :
       {"acme.service-now.com", "ftp://acme.service-now.com", "https://acme.service-now.com/api",
        "https://u:p@acme.service-now.com", "https://acme.service-now.com?x=1", ""}) {
    EXPECT_EQ(TableClient::Create(transport_, transport_, auth_, bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(TableClientTest, ListSendsExactUrlAndHeaders) {
  transport_.Enqueue(200, R"({"result":[]})", {{"X-Total-Count", "0"}});
  ListRequest request;
  request.table = "cmdb_ci_business_app";
  request.query = "name=O'Brien^active=true";
  request.fields = {"sys_id", "name", "it_application_owner.name"};
  request.display_value = DisplayValue::kAll;
  request.limit = 50;
  request.offset = 100;
  request.call = absl::FromUnixSeconds(2'000'000'000);
  absl::StatusOr<TablePage> page = List(request);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->rows.empty());
  EXPECT_EQ(page->total_count, 0);
  EXPECT_EQ(page->next_link, std::nullopt);

  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].url,
            absl::StrCat(kTableUrl,
                         "cmdb_ci_business_app?sysparm_query=name%3DO%27Brien%5Eactive%3Dtrue"
                         "&sysparm_fields=sys_id%2Cname%2Cit_application_owner.name"
                         "&sysparm_display_value=all&sysparm_exclude_reference_link=true"
                         "&sysparm_limit=50&sysparm_offset=100&sysparm_no_count=true"));
  EXPECT_EQ(RequestHeader(sent[0], "Authorization"), BasicHeader());
  EXPECT_EQ(RequestHeader(sent[0], "Accept"), "application/json");
  EXPECT_EQ(sent[0].deadline, absl::FromUnixSeconds(2'000'000'000));
  EXPECT_TRUE(sent[0].idempotent);
}

TEST_F(TableClientTest, ListDefaultsLeaveOutEmptyParameters) {
  transport_.Enqueue(200, R"({"result":[]})");
  ListRequest request;
  request.table = "sys_user";
  request.exclude_reference_link = false;
  request.no_count = false;
  request.display_value = DisplayValue::kTrue;
  ASSERT_TRUE(List(request).ok());
  EXPECT_EQ(transport_.requests()[0].url,
            absl::StrCat(kTableUrl,
                         "sys_user?sysparm_display_value=true&sysparm_exclude_reference_link=false"
                         "&sysparm_limit=1000&sysparm_offset=0&sysparm_no_count=false"));
}

TEST_F(TableClientTest, InvalidArgumentsFailBeforeSendingAndNotInline) {
  for (ListRequest request : {ListRequest{.table = "sys_user;drop"},
                              ListRequest{.table = "sys_user", .fields = {"name,sys_id"}},
                              ListRequest{.table = "sys_user", .limit = 0},
                              ListRequest{.table = "sys_user", .limit = 10001},
                              ListRequest{.table = "sys_user", .query = "name=a\nb"}}) {
    absl::StatusOr<TablePage> page = List(request);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << request.table;
  }
  EXPECT_EQ(transport_.request_count(), 0u);
}

TEST_F(TableClientTest, RowModelFalse) {
  transport_.Enqueue(200, R"({"result":[{
      "sys_id":"s1","name":"Payroll","it_application_owner":{"link":"https://acme.service-now.com/api/now/table/sys_user/u1","value":"u1"},
      "it_application_owner.name":"Fred Jones","u_l3_name":"","count":3,"active":true,"gone":null}]})");
  absl::StatusOr<TablePage> page = List({.table = "cmdb_ci_business_app"});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rows.size(), 1u);
  const Row& row = page->rows[0];
  EXPECT_EQ(row.Value("name"), "Payroll");
  EXPECT_EQ(row.Value("it_application_owner"), "u1");
  EXPECT_EQ(row.Find("it_application_owner")->display_value, "");
  EXPECT_EQ(row.Value("it_application_owner.name"), "Fred Jones");
  EXPECT_EQ(row.Value("u_l3_name"), "");
  EXPECT_FALSE(row.Find("u_l3_name")->is_null);
  EXPECT_EQ(row.Value("count"), "3");
  EXPECT_EQ(row.Value("active"), "true");
  EXPECT_TRUE(row.Find("gone")->is_null);
  EXPECT_EQ(row.Value("gone"), "");
  EXPECT_EQ(row.Value("missing"), std::nullopt);
}

TEST_F(TableClientTest, RowModelTrueAndAll) {
  transport_.Enqueue(200, R"({"result":[{"owner":{"display_value":"Fred Jones","link":"x"},
                                          "install_type":"Cloud"}]})");
  absl::StatusOr<TablePage> page =
      List({.table = "cmdb_ci_business_app", .display_value = DisplayValue::kTrue});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->rows[0].fields.at("owner"), (FieldValue{"Fred Jones", "Fred Jones", false}));
  EXPECT_EQ(page->rows[0].fields.at("install_type"), (FieldValue{"Cloud", "Cloud", false}));

  transport_.Enqueue(200, R"({"result":[{"owner":{"display_value":"Fred Jones","value":"u1"},
                                          "install_type":{"display_value":"Cloud","value":"2"},
                                          "empty_ref":""}]})");
  page = List({.table = "cmdb_ci_business_app", .display_value = DisplayValue::kAll});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->rows[0].fields.at("owner"), (FieldValue{"u1", "Fred Jones", false}));
  EXPECT_EQ(page->rows[0].fields.at("install_type"), (FieldValue{"2", "Cloud", false}));
  EXPECT_EQ(page->rows[0].fields.at("empty_ref"), (FieldValue{"", "", false}));
}

TEST_F(TableClientTest, GetBuildsUrlAndMaps404) {
  transport_.Enqueue(200, R"({"result":{"sys_id":"0123abcd","name":"Fred"}})");
  absl::StatusOr<Row> row = Get({.table = "sys_user", .sys_id = "0123abcd", .fields = {"name"}});
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->Value("name"), "Fred");
  EXPECT_EQ(transport_.requests()[0].url,
            absl::StrCat(kTableUrl,
                         "sys_user/0123abcd?sysparm_fields=name&sysparm_display_value=false"
                         "&sysparm_exclude_reference_link=true"));

  transport_.Enqueue(
      404,
      R"({"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"})");
  row = Get({.table = "sys_user", .sys_id = "ffff"});
  EXPECT_EQ(row.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(row.status().message(), HasSubstr("No Record found"));
  EXPECT_THAT(row.status().message(), HasSubstr("ACL restricts"));

  row = Get({.table = "sys_user", .sys_id = "../admin"});
  EXPECT_EQ(row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(TableClientTest, ErrorBodiesDecoded) {
  transport_.Enqueue(
      400, R"({"error":{"message":"Invalid table foo","detail":null},"status":"failure"})");
  absl::StatusOr<TablePage> page = List({.table = "foo"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(page.status().message(), HasSubstr("Invalid table foo"));
  EXPECT_THAT(page.status().message(), HasSubstr("/api/now/table/foo"));
  EXPECT_EQ(HttpStatusOf(page.status()), 400);

  transport_.Enqueue(503,
                     "<html><head><title>Service Unavailable</title><style>p{}</style></head>"
                     "<body><p>Instance hibernating</p></body></html>",
                     {{"Content-Type", "text/html"}});
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(page.status().message(), HasSubstr("Instance hibernating"));
  EXPECT_THAT(page.status().message(), Not(HasSubstr("<body>")));

  transport_.Enqueue(500, "");
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);

  transport_.Enqueue(403, R"({"error":{"message":"Operation Failed","detail":"ACL Exception"}})");
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(page.status().message(), HasSubstr("Operation Failed (ACL Exception)"));

  transport_.Enqueue(429, R"({"error":{"message":"Rate limit exceeded"}})", {{"Retry-After", "7"}});
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(RetryAfterFromStatus(page.status()), absl::Seconds(7));

  // A hibernating instance can answer 200 with HTML; a cancelled transaction 200 with a failure.
  transport_.Enqueue(200, "<html><body>Your instance is hibernating</body></html>");
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(page.status().message(), HasSubstr("hibernating"));

  transport_.Enqueue(
      200,
      R"({"error":{"message":"Transaction cancelled: maximum execution time exceeded"},"status":"failure"})");
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(page.status().message(), HasSubstr("maximum execution time"));

  transport_.Enqueue(200, R"({"result":[{"name":"trunc)");
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnavailable);

  transport_.Enqueue(absl::DeadlineExceededError("deadline"));
  page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(TableClientTest, BasicAuthIsNotRetriedOn401AndSecretsAreRegistered) {
  transport_.Enqueue(
      401,
      R"({"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"})");
  absl::StatusOr<TablePage> page = List({.table = "incident"});
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(page.status().message(), HasSubstr("User Not Authenticated"));
  EXPECT_EQ(transport_.request_count(), 1u);
  EXPECT_EQ(Redactor::Global().Redact("x pw-secret y"), "x [REDACTED] y");
  EXPECT_THAT(Redactor::Global().Redact(absl::Base64Escape("svc:pw-secret")),
              Not(HasSubstr(absl::Base64Escape("svc:pw-secret"))));
}

// Five short pages (ACLs hide rows) chained by Link headers; X-Total-Count overstates.
TEST_F(TableClientTest, ListAllFollowsLinkHeadersThroughShortPages) {
  transport_.SetHandler([](const HttpRequest& request) -> absl::StatusOr<HttpResponse> {
    const int64_t offset = IntQueryParam(request.url, "sysparm_offset", -1);
    const int64_t page = offset / 3;
    auto link = [&](int64_t o) {
      return absl::StrCat(kTableUrl, "incident?sysparm_fields=number,sys_id&sysparm_limit=3",
                          "&sysparm_offset=", o);
    };
    std::string header =
        absl::StrCat("<", link(0), ">;rel=\"first\",<", link(offset - 3), ">;rel=\"prev\",");
    if (page < 4) absl::StrAppend(&header, "<", link(offset + 3), ">;rel=\"next\",");
    absl::StrAppend(&header, "<", link(12), ">;rel=\"last\"");
    // Page p has p % 2 + 1 rows: always shorter than the limit.
    std::string rows;
    for (int64_t i = 0; i < page % 2 + 1; ++i) {
      absl::StrAppend(&rows, rows.empty() ? "" : ",", "{\"number\":\"INC", page, "-", i, "\"}");
    }
    return MakeResponse(200, absl::StrCat("{\"result\":[", rows, "]}"),
                        {{"Link", header}, {"X-Total-Count", "15"}});
  });
  absl::StatusOr<std::vector<Row>> rows =
      ListAll({.table = "incident", .fields = {"number", "sys_id"}, .limit = 3});
  ASSERT_TRUE(rows.ok()) << rows.status();
  std::vector<std::string> numbers;
  for (const Row& row : *rows) numbers.emplace_back(*row.Value("number"));
  EXPECT_THAT(numbers,
              ElementsAre("INC0-0", "INC1-0", "INC1-1", "INC2-0", "INC3-0", "INC3-1", "INC4-0"));
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 5u);
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(IntQueryParam(sent[i].url, "sysparm_offset", -1), static_cast<int64_t>(3 * i));
    EXPECT_EQ(RequestHeader(sent[i], "Authorization"), BasicHeader());
  }
}

TEST_F(TableClientTest, ListAllStopsAtAnEmptyPageEvenWithANextLink) {
  const std::string next = absl::StrCat("<", kTableUrl, "incident?sysparm_offset=2>;rel=\"next\"");
  const std::string next2 = absl::StrCat("<", kTableUrl, "incident?sysparm_offset=4>;rel=\"next\"");
  transport_.Enqueue(200, R"({"result":[{"number":"1"}]})", {{"Link", next}});
  transport_.Enqueue(200, R"({"result":[]})", {{"Link", next2}});
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 2});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 1u);
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(TableClientTest, ListAllRefusesANextLinkOnAnotherOrigin) {
  transport_.Enqueue(
      200, R"({"result":[{"number":"1"}]})",
      {{"Link",
        "<https://evil.example.com/api/now/table/incident?sysparm_offset=1>;rel=\"next\""}});
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 1});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rows.status().message(), HasSubstr("evil.example.com"));
  EXPECT_EQ(transport_.request_count(), 1u);
  for (const HttpRequest& r : transport_.requests()) {
    EXPECT_THAT(r.url, Not(HasSubstr("evil")));
  }

  // Same host, other scheme or port: another origin too.
  transport_.Enqueue(
      200, R"({"result":[{"number":"1"}]})",
      {{"Link", "<http://acme.service-now.com/api/now/table/incident?x=1>;rel=\"next\""}});
  rows = ListAll({.table = "incident", .limit = 1});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(TableClientTest, ListAllAcceptsRelativeAndDefaultPortLinks) {
  transport_.Enqueue(200, R"({"result":[{"n":"1"}]})",
                     {{"Link", "</api/now/table/incident?sysparm_offset=1>;rel=\"next\""}});
  transport_.Enqueue(
      200, R"({"result":[{"n":"2"}]})",
      {{"Link",
        "<https://acme.service-now.com:443/api/now/table/incident?sysparm_offset=2>;rel=next"}});
  transport_.Enqueue(200, R"({"result":[{"n":"3"}]})",
                     {{"Link", "<https://acme.service-now.com/x>;rel=\"last\""}});
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 1});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 3u);
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].url, absl::StrCat(kTableUrl, "incident?sysparm_offset=1"));
  // The instance's own spelling of its origin is what is sent, not the link's.
  EXPECT_EQ(sent[2].url, absl::StrCat(kTableUrl, "incident?sysparm_offset=2"));
  EXPECT_EQ(RequestHeader(sent[2], "Authorization"), BasicHeader());
}

// Found by the servicenow_response fuzzer: a link spelled `httPs://` was sent as spelled (the
// same origin, but not the instance's own text).
TEST_F(TableClientTest, ANextLinkIsSentOnTheInstancesOwnOrigin) {
  transport_.Enqueue(
      200, R"({"result":[{"n":"1"}]})",
      {{"Link",
        "<httPs://ACME.service-now.com/api/now/table/incident?sysparm_offset=1>;rel=next"}});
  transport_.Enqueue(200, R"({"result":[]})");
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 1});
  ASSERT_TRUE(rows.ok()) << rows.status();
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].url, absl::StrCat(kTableUrl, "incident?sysparm_offset=1"));
}

TEST_F(TableClientTest, ListAllDetectsALinkLoop) {
  const std::string self = absl::StrCat(
      "<", kTableUrl,
      "incident?sysparm_display_value=false&sysparm_exclude_reference_link=true&sysparm_limit=1"
      "&sysparm_offset=0&sysparm_no_count=true>;rel=\"next\"");
  transport_.SetHandler([self](const HttpRequest&) {
    return MakeResponse(200, R"({"result":[{"n":"1"}]})", {{"Link", self}});
  });
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 1});
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(rows.status().message(), HasSubstr("loop"));
  EXPECT_EQ(transport_.request_count(), 1u);
}

TEST_F(TableClientTest, ListAllWithoutLinkHeadersPagesByOffsetUntilEmpty) {
  transport_.SetHandler([](const HttpRequest& request) {
    const int64_t offset = IntQueryParam(request.url, "sysparm_offset", -1);
    if (offset >= 6) return MakeResponse(200, R"({"result":[]})");
    return MakeResponse(200, absl::StrCat("{\"result\":[{\"o\":\"", offset, "\"}]}"));
  });
  absl::StatusOr<std::vector<Row>> rows = ListAll({.table = "incident", .limit = 2});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2].Value("o"), "4");
  EXPECT_EQ(transport_.request_count(), 4u);
}

TEST_F(TableClientTest, ForEachPageStopsWhenTheSinkFails) {
  transport_.SetHandler(
      [](const HttpRequest&) { return MakeResponse(200, R"({"result":[{"n":"1"}]})"); });
  Capture<absl::Status> done;
  int pages = 0;
  client_->ForEachPage(
      {.table = "incident", .limit = 1},
      [&pages](TablePage&) {
        return ++pages == 2 ? absl::AbortedError("enough") : absl::OkStatus();
      },
      done.Callback());
  EXPECT_EQ(done.Wait().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(TableClientTest, LookupByKeyAsksForTwoRowsAndReturnsTheExactMatch) {
  transport_.Enqueue(200, R"({"result":[{"sys_id":"a1","name":"O'Brien","number":"APM1"}]})");
  absl::StatusOr<std::optional<Row>> row = Lookup({.table = "cmdb_ci_business_app",
                                                   .key_field = "name",
                                                   .value = "O'Brien",
                                                   .fields = {"sys_id", "number"}});
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ((*row)->Value("number"), "APM1");
  EXPECT_EQ(transport_.requests()[0].url,
            absl::StrCat(kTableUrl,
                         "cmdb_ci_business_app?sysparm_query=name%3DO%27Brien"
                         "&sysparm_fields=sys_id%2Cnumber%2Cname&sysparm_display_value=false"
                         "&sysparm_exclude_reference_link=true&sysparm_limit=2&sysparm_offset=0"
                         "&sysparm_no_count=true"));
}

TEST_F(TableClientTest, LookupByKeyEscapesHostileValues) {
  transport_.Enqueue(200, R"({"result":[]})");
  absl::StatusOr<std::optional<Row>> row = Lookup(
      {.table = "cmdb_ci_business_app", .key_field = "name", .value = "a^ORname=b", .fields = {}});
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_FALSE(row->has_value());
  EXPECT_EQ(QueryParam(transport_.requests()[0].url, "sysparm_query"), "name%3Da%5E%5EORname%3Db");

  row = Lookup({.table = "cmdb_ci_business_app", .key_field = "name", .value = " JavaScript:x"});
  EXPECT_EQ(row.status().code(), absl::StatusCode::kInvalidArgument);
  row = Lookup({.table = "cmdb_ci_business_app", .key_field = "owner.name", .value = "x"});
  EXPECT_EQ(row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport_.request_count(), 1u);
}

TEST_F(TableClientTest, LookupByKeyFiltersOutRowsThatDoNotMatch) {
  // As if ServiceNow had dropped the query term and returned arbitrary rows.
  transport_.Enqueue(
      200, R"({"result":[{"sys_id":"a1","name":"Other"},{"sys_id":"a2","name":"Else"}]})");
  absl::StatusOr<std::optional<Row>> row =
      Lookup({.table = "cmdb_ci_business_app", .key_field = "name", .value = "Payroll"});
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_FALSE(row->has_value());
  EXPECT_EQ(transport_.request_count(), 1u);
}

TEST_F(TableClientTest, LookupByKeyAmbiguous) {
  transport_.Enqueue(
      200, R"({"result":[{"sys_id":"a1","name":"Payroll"},{"sys_id":"a2","name":"Payroll"}]})");
  absl::StatusOr<std::optional<Row>> row =
      Lookup({.table = "cmdb_ci_business_app", .key_field = "name", .value = "Payroll"});
  EXPECT_EQ(row.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(row.status().message(),
            "ambiguous: more than one cmdb_ci_business_app row has name = \"Payroll\"");
}

TEST_F(TableClientTest, LookupByKeyLooksBehindCaseVariants) {
  // A case-insensitive collation returned two case variants first; the exact row is further on.
  transport_.Enqueue(
      200, R"({"result":[{"sys_id":"a1","name":"PAYROLL"},{"sys_id":"a2","name":"Payroll "}]})");
  transport_.Enqueue(
      200,
      R"({"result":[{"sys_id":"a1","name":"PAYROLL"},{"sys_id":"a2","name":"Payroll "},{"sys_id":"a3","name":"payroll"}]})");
  transport_.Enqueue(200, R"({"result":[]})");
  absl::StatusOr<std::optional<Row>> row =
      Lookup({.table = "cmdb_ci_business_app", .key_field = "name", .value = "payroll"});
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(row->has_value());
  EXPECT_EQ((*row)->Value("sys_id"), "a3");
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(QueryParam(sent[1].url, "sysparm_query"), "name%3Dpayroll%5EORDERBYsys_id");
  EXPECT_EQ(QueryParam(sent[1].url, "sysparm_limit"), "100");
}

}  // namespace
}  // namespace onsync::clients::servicenow
