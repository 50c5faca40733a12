// The fake Onspring over real HTTP: auth, case-insensitive wire conventions, queries, paging,
// saves and their validation, lists, against the default seed.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/test_util.h"

namespace onsync::sandbox::testing {
namespace {

using ::onsync::testing::HttpResult;
using ::testing::HasSubstr;

class OnspringFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sandbox_ = StartSandbox();
    ASSERT_NE(sandbox_, nullptr);
    port_ = sandbox_->onspring_port();
  }

  HttpResult Get(std::string_view target, Headers headers = OnspringKey()) {
    return Call(port_, "GET", target, "", std::move(headers));
  }
  HttpResult Post(std::string_view target, std::string_view body,
                  Headers headers = OnspringJson()) {
    return Call(port_, "POST", target, body, std::move(headers));
  }
  HttpResult Put(std::string_view target, std::string_view body, Headers headers = OnspringJson()) {
    return Call(port_, "PUT", target, body, std::move(headers));
  }
  // Record ids of a paged Query result.
  std::vector<int64_t> QueryIds(int64_t app_id, std::string_view filter) {
    JsonWriter body;
    body.StartObject().Member("appId", app_id).Member("filter", filter).EndObject();
    const HttpResult result = Post("/Records/Query", body.str());
    EXPECT_EQ(result.status, 200) << result.body;
    std::vector<int64_t> ids;
    rapidjson::Document json = Json(result.body);
    if (!json.IsObject()) return ids;
    for (const rapidjson::Value& item : json["items"].GetArray()) {
      ids.push_back(item["recordId"].GetInt64());
    }
    return ids;
  }
  rapidjson::Document GetRecord(int64_t app_id, int64_t record_id) {
    const HttpResult result = Get(absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id));
    EXPECT_EQ(result.status, 200) << result.body;
    return Json(result.body);
  }

  std::unique_ptr<Sandbox> sandbox_;
  int port_ = 0;
};

TEST_F(OnspringFakeTest, Authentication) {
  HttpResult result = Get("/Ping", {});
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "");
  result = Get("/Apps", {});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, "");
  result = Get("/Apps", {{"X-ApiKey", "wrong"}});
  EXPECT_EQ(result.status, 401);
  EXPECT_EQ(result.body, "");
  EXPECT_EQ(Get("/Apps", {{"x-apikey", "sandbox-key"}}).status, 200);
  // The read-only key may read but not write.
  EXPECT_EQ(Get("/Apps/id/300", {{"X-ApiKey", "sandbox-readonly-key"}}).status, 200);
  result = Put("/Records", R"({"appId":300,"fields":{"3002":"x"}})",
               {{"X-ApiKey", "sandbox-readonly-key"}, {"Content-Type", "application/json"}});
  EXPECT_EQ(result.status, 403);
  EXPECT_EQ(result.body, R"({"message":"Client does not have access to write app: 300"})");
}

TEST_F(OnspringFakeTest, CaseInsensitivePathsParametersAndProperties) {
  HttpResult result = Get("/apps?pagesize=2&PAGENUMBER=2");
  ASSERT_EQ(result.status, 200);
  rapidjson::Document json = Json(result.body);
  EXPECT_EQ(json["pageNumber"].GetInt(), 2);
  EXPECT_EQ(json["pageSize"].GetInt(), 2);
  EXPECT_EQ(json["totalRecords"].GetInt(), 3);
  EXPECT_EQ(json["items"][0]["id"].GetInt(), 300);
  // PascalCase body and an integer enum (C# SDK style) on a lower-case path.
  result =
      Post("/records/query?PageSize=10",
           R"({"AppId":100,"Filter":"1003 eq 'fred.jones'","FieldIds":[1005],"DataFormat":1})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(
      result.body,
      R"({"pageNumber":1,"pageSize":10,"totalPages":1,"totalRecords":1,"items":[{"appId":100,)"
      R"("recordId":1,"fieldData":[{"type":"String","fieldId":1005,"value":"Fred Jones"}]}]})");
  EXPECT_EQ(Get("/RECORDS/APPID/100/RECORDID/1/").status, 200);  // trailing slash too
}

TEST_F(OnspringFakeTest, RawRecordShapes) {
  rapidjson::Document record = GetRecord(100, 1);
  EXPECT_EQ(record["appId"].GetInt(), 100);
  EXPECT_EQ(record["recordId"].GetInt(), 1);
  const rapidjson::Value& data = record["fieldData"];
  ASSERT_EQ(data.Size(), 8u);
  EXPECT_EQ(ToJson(data[0]), R"({"type":"String","fieldId":1001,"value":"Fred"})");
  EXPECT_EQ(ToJson(data[4]), R"({"type":"String","fieldId":1005,"value":"Fred Jones"})");
  EXPECT_EQ(ToJson(data[5]),
            absl::StrCat(R"({"type":"Guid","fieldId":1006,"value":")", seed::kActive, R"("})"));
  // The auto-number "Record Id" is not the internal record id.
  EXPECT_EQ(ToJson(data[7]), R"({"type":"Integer","fieldId":1008,"value":1001})");
  // Formatted: list names, prefixed auto-numbers.
  const HttpResult formatted =
      Get("/Records/appId/100/recordId/1?fieldIds=1006,1008&dataFormat=Formatted");
  EXPECT_EQ(
      formatted.body,
      R"({"appId":100,"recordId":1,"fieldData":[{"type":"String","fieldId":1006,"value":"Active"},)"
      R"({"type":"String","fieldId":1008,"value":"USR-1001"}]})");
  const HttpResult missing = Get("/Records/appId/100/recordId/999");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "");
}

TEST_F(OnspringFakeTest, QueryFilterGrammar) {
  EXPECT_THAT(QueryIds(300, "3001 eq 'O''Brien Ledger'"), ::testing::ElementsAre(2));
  EXPECT_THAT(QueryIds(300, "3001 eq 'Zoë ✓ Portal' or 3001 eq 'Pay^Roll'"),
              ::testing::ElementsAre(3, 4));
  EXPECT_THAT(QueryIds(300, ""), ::testing::SizeIs(seed::kBusinessApps));
  EXPECT_THAT(QueryIds(300, "3011 contains 'No' and not (3001 eq 'Payroll')"),
              ::testing::SizeIs(seed::kBusinessApps - 1));
  EXPECT_THAT(QueryIds(100, absl::StrCat("1007 contains '", seed::kTier2, "'")),
              ::testing::ElementsAre(1));
  HttpResult result = Post("/Records/Query", R"({"appId":300,"filter":"3001 eq 'O'Brien'"})");
  EXPECT_EQ(result.status, 400);
  EXPECT_THAT(result.body, HasSubstr("\"message\""));
  result = Post("/Records/Query", R"({"appId":300,"filter":"1001 eq 'x'"})");
  EXPECT_EQ(result.status, 400);
}

TEST_F(OnspringFakeTest, PagingEnvelope) {
  HttpResult result =
      Post("/Records/Query?PageSize=2&PageNumber=4", R"({"appId":300,"fieldIds":[3001]})");
  ASSERT_EQ(result.status, 200);
  rapidjson::Document json = Json(result.body);
  EXPECT_EQ(json["totalPages"].GetInt(), 4);
  EXPECT_EQ(json["totalRecords"].GetInt(), 7);
  EXPECT_EQ(json["items"].Size(), 1u);
  result = Get("/Records/appId/300?PageSize=2&PageNumber=9");
  json = Json(result.body);
  EXPECT_EQ(json["items"].Size(), 0u);
  EXPECT_EQ(json["totalPages"].GetInt(), 4);
  result = Post("/Records/Query", R"({"appId":300,"filter":"3001 eq 'nothing'"})");
  EXPECT_EQ(result.body,
            R"({"pageNumber":1,"pageSize":50,"totalPages":0,"totalRecords":0,"items":[]})");
  EXPECT_EQ(Get("/Records/appId/300?PageSize=1001").status, 400);
  EXPECT_EQ(Get("/Records/appId/300?PageSize=1000").status, 200);
  EXPECT_EQ(Get("/Apps?PageSize=0").status, 400);
  EXPECT_EQ(Get("/Fields/appId/300?pageNumber=0").status, 400);
}

TEST_F(OnspringFakeTest, CreateAssignsSeparateIdsAndComputesTheFormula) {
  HttpResult result =
      Put("/Records", absl::StrCat(R"({"appId":100,"fields":{"1001":"Dana","1002":"O'Brien",)",
                                   R"("1003":"dana.o'brien","1006":")", seed::kActive,
                                   R"(","1007":")", seed::kTier3, R"("}})"));
  ASSERT_EQ(result.status, 201) << result.body;
  EXPECT_EQ(result.body, R"({"id":4,"warnings":[]})");
  rapidjson::Document record = GetRecord(100, 4);
  EXPECT_EQ(Str(*FieldValue(record, 1005)), "Dana O'Brien");
  EXPECT_EQ(FieldValue(record, 1008)->GetInt(), 1004);  // Record Id: a different number
  EXPECT_THAT(QueryIds(100, "1005 eq 'Dana O''Brien'"), ::testing::ElementsAre(4));
}

TEST_F(OnspringFakeTest, UpdateMergesAndRecomputes) {
  HttpResult result =
      Put("/Records", R"({"appId":100,"recordId":1,"fields":{"1001":"Frederick"}})");
  ASSERT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.body, R"({"id":1,"warnings":[]})");
  rapidjson::Document record = GetRecord(100, 1);
  EXPECT_EQ(Str(*FieldValue(record, 1001)), "Frederick");
  EXPECT_EQ(Str(*FieldValue(record, 1002)), "Jones");  // untouched
  EXPECT_EQ(Str(*FieldValue(record, 1005)), "Frederick Jones");
  EXPECT_EQ(FieldValue(record, 1008)->GetInt(), 1001);
  // References (IntegerList), a multi reference, list values; null clears.
  result =
      Put("/Records", absl::StrCat(R"({"appId":300,"recordId":1,"fields":{"3006":[1],"3007":2,)",
                                   R"("3010":[1,2,3],"3004":")", seed::kOnPremise,
                                   R"(","3002":"APM0001001"}})"));
  ASSERT_EQ(result.status, 200) << result.body;
  record = GetRecord(300, 1);
  EXPECT_EQ(ToJson(*FieldValue(record, 3006)), "[1]");
  EXPECT_EQ(ToJson(*FieldValue(record, 3007)), "[2]");
  EXPECT_EQ(ToJson(*FieldValue(record, 3010)), "[1,2,3]");
  EXPECT_EQ(Str(*FieldValue(record, 3004)), seed::kOnPremise);
  EXPECT_THAT(QueryIds(300, "3006 eq 1"), ::testing::ElementsAre(1));
  result = Put("/Records", R"({"appId":300,"recordId":1,"fields":{"3002":null}})");
  ASSERT_EQ(result.status, 200);
  EXPECT_EQ(FieldValue(GetRecord(300, 1), 3002), nullptr);  // empty fields are omitted
}

TEST_F(OnspringFakeTest, SaveValidation) {
  struct Case {
    std::string body;
    int status;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {R"({"appId":300,"recordId":1,"fields":{}})", 400, "at least one field"},
      {R"({"appId":300,"fields":{"9999":"x"}})", 400, "does not exist"},
      {R"({"appId":300,"fields":{"1001":"x"}})", 400, "does not exist"},  // another app's field
      {R"({"appId":300,"fields":{"3001":42}})", 400, "takes a string"},
      {R"({"appId":300,"fields":{"3004":"00000000-0000-0000-0000-000000000000"}})", 400,
       "is not a value id"},
      {R"({"appId":300,"fields":{"3004":"On Premise"}})", 400, "is not a value id"},  // names: no
      {R"({"appId":300,"fields":{"3006":[999]}})", 400, "does not exist in app 100"},
      {R"({"appId":300,"fields":{"3006":[1,2]}})", 400, "SingleSelect"},
      {R"({"appId":300,"fields":{"3006":"1"}})", 400, "integer record ids"},
      {R"({"appId":100,"recordId":1,"fields":{"1005":"Fred Jones"}})", 400, "read-only"},
      {R"({"appId":100,"recordId":1,"fields":{"1008":5}})", 400, "read-only"},
      {R"({"appId":300,"recordId":999,"fields":{"3001":"x"}})", 404, "999"},
      {R"({"appId":300,"recordId":999,"fields":{}})", 404, "999"},  // the 404 comes first
      {R"({"appId":12345,"fields":{"1":"x"}})", 403, "does not have access"},
      {R"(not json)", 400, "JSON object"},
  };
  for (const Case& c : cases) {
    const HttpResult result = Put("/Records", c.body);
    EXPECT_EQ(result.status, c.status) << c.body << " -> " << result.body;
    EXPECT_THAT(Str(Json(result.body)["message"]), HasSubstr(c.message_part)) << c.body;
  }
  // Nothing was created by the failures.
  EXPECT_THAT(QueryIds(300, ""), ::testing::SizeIs(seed::kBusinessApps));
}

TEST_F(OnspringFakeTest, BatchGetAndDelete) {
  std::string ids;
  for (int i = 1; i <= 101; ++i) absl::StrAppend(&ids, i == 1 ? "" : ",", i);
  HttpResult result =
      Post("/Records/batch-get", absl::StrCat(R"({"appId":300,"recordIds":[)", ids, "]}"));
  EXPECT_EQ(result.status, 400);
  result = Post("/Records/batch-get", R"({"appId":300,"recordIds":[2,1,77],"fieldIds":[3001]})");
  ASSERT_EQ(result.status, 200);
  rapidjson::Document json = Json(result.body);
  EXPECT_EQ(json["count"].GetInt(), 2);
  EXPECT_EQ(Str(*FieldValue(json["items"][0], 3001)), "O'Brien Ledger");
  EXPECT_EQ(Post("/Records/batch-delete", R"({"appId":300,"recordIds":[]})").status, 400);
  EXPECT_EQ(Post("/Records/batch-delete", R"({"appId":300,"recordIds":[6,7]})").status, 204);
  EXPECT_EQ(Call(port_, "DELETE", "/Records/appId/300/recordId/5", "", OnspringKey()).status, 204);
  EXPECT_EQ(Call(port_, "DELETE", "/Records/appId/300/recordId/5", "", OnspringKey()).status, 404);
  EXPECT_THAT(QueryIds(300, ""), ::testing::ElementsAre(1, 2, 3, 4));
  // Ids are never reused.
  result = Put("/Records", R"({"appId":300,"fields":{"3001":"New App"}})");
  EXPECT_EQ(result.body, R"({"id":8,"warnings":[]})");
}

TEST_F(OnspringFakeTest, FieldsMetadata) {
  HttpResult result = Get("/Fields/id/3004");
  ASSERT_EQ(result.status, 200);
  rapidjson::Document field = Json(result.body);
  EXPECT_EQ(Str(field["type"]), "List");
  EXPECT_EQ(Str(field["multiplicity"]), "SingleSelect");
  EXPECT_EQ(field["listId"].GetInt(), 3401);
  EXPECT_EQ(Str(field["values"][0]["id"]), seed::kOnPremise);
  EXPECT_EQ(Str(field["values"][0]["name"]), "On Premise");
  field = Json(Get("/Fields/id/3010").body);
  EXPECT_EQ(Str(field["type"]), "Reference");
  EXPECT_EQ(Str(field["multiplicity"]), "MultiSelect");
  EXPECT_EQ(field["referencedAppId"].GetInt(), 200);
  field = Json(Get("/Fields/id/1005").body);
  EXPECT_EQ(Str(field["type"]), "Formula");
  EXPECT_EQ(Str(field["outputType"]), "Text");
  EXPECT_EQ(Get("/Fields/id/424242").status, 404);
  rapidjson::Document page = Json(Get("/Fields/appId/300?PageSize=5").body);
  EXPECT_EQ(page["totalRecords"].GetInt(), 12);
  EXPECT_EQ(page["totalPages"].GetInt(), 3);
  result = Post("/Fields/batch-get", "[3001,1005,424242]");
  EXPECT_EQ(Json(result.body)["count"].GetInt(), 2);
  EXPECT_EQ(Get("/Apps/id/424242").status, 404);
}

TEST_F(OnspringFakeTest, ListItems) {
  HttpResult result =
      Put("/Lists/id/3401/items", R"({"name":"Edge","numericValue":5,"color":"#00ff00"})");
  ASSERT_EQ(result.status, 201) << result.body;
  const std::string guid = Str(Json(result.body)["id"]);
  EXPECT_EQ(guid.size(), 36u);
  rapidjson::Document field = Json(Get("/Fields/id/3004").body);
  EXPECT_EQ(Str(field["values"][4]["name"]), "Edge");
  EXPECT_EQ(Str(field["values"][4]["id"]), guid);
  // The new value can be written.
  EXPECT_EQ(Put("/Records",
                absl::StrCat(R"({"appId":300,"recordId":1,"fields":{"3004":")", guid, R"("}})"))
                .status,
            200);
  result = Put("/Lists/id/3401/items", absl::StrCat(R"({"Id":")", guid, R"(","Name":"Edge 2"})"));
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(Str(Json(result.body)["id"]), guid);
  EXPECT_EQ(Put("/Lists/id/3401/items", R"({"name":"Cloud"})").status, 400);  // duplicate
  EXPECT_EQ(Put("/Lists/id/9/items", R"({"name":"x"})").status, 404);
  EXPECT_EQ(
      Put("/Lists/id/3401/items", R"({"id":"00000000-0000-0000-0000-000000000000","name":"x"})")
          .status,
      404);
  EXPECT_EQ(
      Call(port_, "DELETE", absl::StrCat("/Lists/id/3401/itemId/", guid), "", OnspringKey()).status,
      204);
  EXPECT_EQ(FieldValue(GetRecord(300, 1), 3004), nullptr);
}

}  // namespace
}  // namespace onsync::sandbox::testing
