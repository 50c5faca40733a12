#include "clients/onspring/onspring_client.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/http/redact.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/fake_transport.h"

namespace onsync::clients::onspring {
namespace {

using ::onsync::clients::testing::Capture;
using ::onsync::clients::testing::FakeTransport;
using ::onsync::clients::testing::IntQueryParam;
using ::onsync::clients::testing::MakeResponse;
using ::onsync::clients::testing::RequestHeader;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "000000ffffff000000ffffff/00000000-ffff-0000-ffff-000000000000";

rapidjson::Document ParseBody(const HttpRequest& request) {
  rapidjson::Document doc;
  doc.Parse(request.body.data(), request.body.size());
  EXPECT_FALSE(doc.HasParseError()) << request.body;
  return doc;
}

std::vector<int64_t> IntArray(const rapidjson::Value& v) {
  std::vector<int64_t> out;
  for (const auto& item : v.GetArray()) out.push_back(item.GetInt64());
  return out;
}

class OnspringClientTest : public ::testing::Test {
 protected:
  OnspringClientTest() {
    absl::StatusOr<std::unique_ptr<OnspringClient>> client = OnspringClient::Create(
        transport_, transport_, {.base_url = "https://api.onspring.com/", .api_key = kKey});
    EXPECT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  template <typename T, typename Call>
  T Run(Call call) {
    Capture<T> result;
    call(result.Callback());
    T value = std::move(result.Wait());
    EXPECT_NE(result.thread(), std::this_thread::get_id());
    return value;
  }

  absl::StatusOr<Record> GetRecord(int app, int64_t id, std::vector<int> fields) {
    return Run<absl::StatusOr<Record>>([&](auto cb) {
      client_->GetRecord(app, id, fields, absl::InfiniteFuture(), std::move(cb));
    });
  }

  FakeTransport transport_;
  std::unique_ptr<OnspringClient> client_;
};

TEST_F(OnspringClientTest, CreateValidates) {
  EXPECT_EQ(OnspringClient::Create(transport_, transport_,
                                   {.base_url = "api.onspring.com", .api_key = kKey})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnspringClient::Create(transport_, transport_,
                                   {.base_url = "https://api.onspring.com", .api_key = ""})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OnspringClient::Create(
                transport_, transport_,
                {.base_url = "https://api.onspring.com", .api_key = kKey, .page_size = 1001})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Redactor::Global().Redact(absl::StrCat("key=", kKey)), "key=[REDACTED]");
}

TEST_F(OnspringClientTest, GetRecordUrlHeadersAndValueTypes) {
  transport_.Enqueue(200, R"({"appId":100,"recordId":5,"fieldData":[
      {"type":"String","fieldId":1001,"value":"O'Brien"},
      {"type":"Integer","fieldId":1002,"value":42},
      {"type":"Decimal","fieldId":1003,"value":1.25},
      {"type":"Decimal","fieldId":1013,"value":100},
      {"type":"Date","fieldId":1004,"value":"2023-02-15T06:00:00Z"},
      {"type":"Guid","fieldId":1005,"value":"4118d53a-9121-4345-8682-07f23d606daa"},
      {"type":"GuidList","fieldId":1006,"value":["g1","g2"]},
      {"type":"IntegerList","fieldId":1007,"value":[4,5]},
      {"type":"StringList","fieldId":1008,"value":["a","b"]},
      {"type":"FileList","fieldId":1009,"value":[77]},
      {"type":"TimeSpan","fieldId":1010,"value":{"quantity":10,"increment":"Minutes","recurrence":"None"}},
      {"type":"Mystery","fieldId":1011,"value":[true]},
      {"type":"Integer","fieldId":1012,"value":"not a number"},
      {"type":"String","fieldId":1014,"value":null},
      {"type":"String","fieldId":1015}]})");
  absl::StatusOr<Record> record = GetRecord(100, 5, {1001, 1002});
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->record_id, 5);
  EXPECT_EQ(record->app_id, 100);
  const auto& f = record->fields;
  EXPECT_EQ(f.at(1001), FieldValue::String("O'Brien"));
  EXPECT_EQ(f.at(1002), FieldValue::Integer(42));
  EXPECT_EQ(f.at(1003), FieldValue::Decimal(1.25));
  EXPECT_EQ(f.at(1013), FieldValue::Decimal(100));
  EXPECT_EQ(f.at(1004), FieldValue::Date("2023-02-15T06:00:00Z"));
  EXPECT_EQ(f.at(1005), FieldValue::Guid("4118d53a-9121-4345-8682-07f23d606daa"));
  EXPECT_EQ(f.at(1006), FieldValue::GuidList({"g1", "g2"}));
  EXPECT_EQ(f.at(1007), FieldValue::IntegerList({4, 5}));
  EXPECT_EQ(f.at(1008), FieldValue::StringList({"a", "b"}));
  EXPECT_EQ(f.at(1009), FieldValue::FileList({77}));
  EXPECT_EQ(
      f.at(1010),
      FieldValue::Raw("TimeSpan", R"({"quantity":10,"increment":"Minutes","recurrence":"None"})"));
  EXPECT_EQ(f.at(1011), FieldValue::Raw("Mystery", "[true]"));
  EXPECT_EQ(f.at(1012), FieldValue::Raw("Integer", R"("not a number")"));
  EXPECT_EQ(f.at(1014), FieldValue::Null());
  EXPECT_EQ(f.at(1015), FieldValue::Null());

  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].url,
            "https://api.onspring.com/Records/appId/100/recordId/5?fieldIds=1001,1002"
            "&dataFormat=Raw");
  EXPECT_EQ(RequestHeader(sent[0], "X-ApiKey"), kKey);
  EXPECT_EQ(RequestHeader(sent[0], "Accept"), "application/json");
  EXPECT_EQ(RequestHeader(sent[0], "Content-Type"), std::nullopt);
}

TEST_F(OnspringClientTest, CaseVariantKeys) {
  transport_.Enqueue(200, R"({"AppId":100,"RecordId":6,"FieldData":[
      {"Type":"string","FieldId":1001,"Value":"x"}]})");
  absl::StatusOr<Record> record = GetRecord(100, 6, {});
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->record_id, 6);
  EXPECT_EQ(record->fields.at(1001), FieldValue::String("x"));
  EXPECT_EQ(transport_.requests()[0].url,
            "https://api.onspring.com/Records/appId/100/recordId/6?dataFormat=Raw");
}

// Found by the onspring_response fuzzer: numbers outside int64's range were cast (undefined
// behaviour). They are malformed ids now, and a valid id is still read.
TEST_F(OnspringClientTest, IdsOutsideTheIntegerRangeAreMalformed) {
  transport_.Enqueue(
      200,
      R"({"appId":1e300,"recordId":9.3e18,"fieldData":[{"type":"Integer","fieldId":1e19,"value":-1e300}]})");
  EXPECT_EQ(GetRecord(100, 7, {}).status().code(), absl::StatusCode::kUnavailable);
  transport_.Enqueue(200, R"({"appId":100,"recordId":7.0,"fieldData":[]})");
  absl::StatusOr<Record> record = GetRecord(100, 7, {});
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->record_id, 7);
}

TEST_F(OnspringClientTest, Errors) {
  transport_.Enqueue(404, "");
  absl::StatusOr<Record> record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(record.status().message(), HasSubstr("/Records/appId/100/recordId/7"));

  transport_.Enqueue(403, R"({"Message":"Client does not have access to read app: 100"})");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(record.status().message(), HasSubstr("does not have access to read app: 100"));

  transport_.Enqueue(503,
                     "<html><head><title>503 Service Unavailable</title></head>"
                     "<body><h1>Service Unavailable</h1></body></html>");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(record.status().message(), HasSubstr("Service Unavailable"));
  EXPECT_THAT(record.status().message(), Not(HasSubstr("<h1>")));

  transport_.Enqueue(401, "<html><body>Unauthorized</body></html>");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(record.status().message(), HasSubstr("Unauthorized"));

  transport_.Enqueue(400, R"({"message":"Query request is invalid"})");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);

  transport_.Enqueue(200, "<html>not json</html>");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kUnavailable);

  transport_.Enqueue(200, R"({"appId":100,"fieldData":[]})");
  record = GetRecord(100, 7, {});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kUnavailable);

  record = GetRecord(100, 7, {0});
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport_.request_count(), 7u);
}

TEST_F(OnspringClientTest, QueryRecordsReadsEveryPage) {
  transport_.SetHandler([](const HttpRequest& request) {
    const int64_t page = IntQueryParam(request.url, "PageNumber", 0);
    std::string items;
    for (int64_t i = 0; i < (page < 3 ? 2 : 1); ++i) {
      absl::StrAppend(&items, items.empty() ? "" : ",", R"({"appId":100,"recordId":)",
                      page * 10 + i, R"(,"fieldData":[]})");
    }
    return MakeResponse(200, absl::StrCat(R"({"pageNumber":)", page,
                                          R"(,"pageSize":2,"totalPages":3,"totalRecords":5,)",
                                          R"("items":[)", items, "]}"));
  });
  auto records = Run<absl::StatusOr<std::vector<Record>>>([&](auto cb) {
    client_->QueryRecords(100, "(1005 eq 'a' or 1005 eq 'b')", {1005, 1006}, absl::InfiniteFuture(),
                          std::move(cb));
  });
  ASSERT_TRUE(records.ok()) << records.status();
  std::vector<int64_t> ids;
  for (const Record& r : *records) ids.push_back(r.record_id);
  EXPECT_THAT(ids, ElementsAre(10, 11, 20, 21, 30));

  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(sent[i].method, "POST");
    EXPECT_EQ(sent[i].url, absl::StrCat("https://api.onspring.com/Records/Query?PageNumber=", i + 1,
                                        "&PageSize=1000"));
    EXPECT_EQ(RequestHeader(sent[i], "Content-Type"), "application/json");
    EXPECT_EQ(RequestHeader(sent[i], "X-ApiKey"), kKey);
    rapidjson::Document body = ParseBody(sent[i]);
    EXPECT_EQ(body["appId"].GetInt(), 100);
    EXPECT_STREQ(body["filter"].GetString(), "(1005 eq 'a' or 1005 eq 'b')");
    EXPECT_THAT(IntArray(body["fieldIds"]), ElementsAre(1005, 1006));
    EXPECT_STREQ(body["dataFormat"].GetString(), "Raw");
    EXPECT_EQ(body.MemberCount(), 4u);
  }
}

TEST_F(OnspringClientTest, QueryRecordsEmptyResultAndNoFilter) {
  transport_.Enqueue(200,
                     R"({"pageNumber":1,"pageSize":0,"totalPages":0,"totalRecords":0,"items":[]})");
  auto records = Run<absl::StatusOr<std::vector<Record>>>(
      [&](auto cb) { client_->QueryRecords(100, "", {}, absl::InfiniteFuture(), std::move(cb)); });
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
  rapidjson::Document body = ParseBody(transport_.requests().at(0));
  EXPECT_FALSE(body.HasMember("filter"));
  EXPECT_TRUE(body["fieldIds"].GetArray().Empty());

  transport_.Enqueue(200, R"({"pageNumber":1})");
  records = Run<absl::StatusOr<std::vector<Record>>>(
      [&](auto cb) { client_->QueryRecords(100, "", {}, absl::InfiniteFuture(), std::move(cb)); });
  EXPECT_EQ(records.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(OnspringClientTest, BatchGetChunksByHundredAndKeepsOrder) {
  transport_.SetHandler([](const HttpRequest& request) {
    rapidjson::Document body;
    body.Parse(request.body.data(), request.body.size());
    std::vector<int64_t> ids = IntArray(body["recordIds"]);
    std::reverse(ids.begin(), ids.end());  // the server's order is not the request's
    std::string items;
    for (int64_t id : ids) {
      if (id == 13) continue;  // not found / no access
      absl::StrAppend(&items, items.empty() ? "" : ",", R"({"appId":100,"recordId":)", id,
                      R"(,"fieldData":[]})");
    }
    return MakeResponse(200,
                        absl::StrCat(R"({"count":)", ids.size(), R"(,"items":[)", items, "]}"));
  });
  std::vector<int64_t> wanted;
  for (int64_t i = 250; i >= 1; --i) wanted.push_back(i);
  wanted.push_back(250);  // duplicate
  auto records = Run<absl::StatusOr<std::vector<Record>>>([&](auto cb) {
    client_->BatchGetRecords(100, wanted, {1001}, absl::InfiniteFuture(), std::move(cb));
  });
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 249u);
  EXPECT_EQ(records->front().record_id, 250);
  EXPECT_EQ((*records)[236].record_id, 14);
  EXPECT_EQ((*records)[237].record_id, 12);
  EXPECT_EQ(records->back().record_id, 1);

  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  std::vector<size_t> sizes;
  for (const HttpRequest& r : sent) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "https://api.onspring.com/Records/batch-get");
    rapidjson::Document body = ParseBody(r);
    EXPECT_EQ(body["appId"].GetInt(), 100);
    EXPECT_THAT(IntArray(body["fieldIds"]), ElementsAre(1001));
    EXPECT_STREQ(body["dataFormat"].GetString(), "Raw");
    sizes.push_back(body["recordIds"].Size());
  }
  std::sort(sizes.begin(), sizes.end());
  EXPECT_THAT(sizes, ElementsAre(50, 100, 100));
}

TEST_F(OnspringClientTest, BatchGetFailsWhenAChunkFails) {
  transport_.Enqueue(200, R"({"count":0,"items":[]})");
  transport_.Enqueue(503, "");
  auto records = Run<absl::StatusOr<std::vector<Record>>>([&](auto cb) {
    std::vector<int64_t> ids;
    for (int64_t i = 1; i <= 150; ++i) ids.push_back(i);
    client_->BatchGetRecords(100, ids, {}, absl::InfiniteFuture(), std::move(cb));
  });
  EXPECT_EQ(records.status().code(), absl::StatusCode::kUnavailable);

  records = Run<absl::StatusOr<std::vector<Record>>>([&](auto cb) {
    client_->BatchGetRecords(100, {}, {}, absl::InfiniteFuture(), std::move(cb));
  });
  ASSERT_TRUE(records.ok());
  EXPECT_TRUE(records->empty());
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(OnspringClientTest, SaveRecordCreate) {
  transport_.Enqueue(201, R"({"id":77,"warnings":["list value ignored"]})");
  std::map<int, FieldValue> fields = {
      {1001, FieldValue::String("Fred \"Q\" O'Brien ✓")},
      {1002, FieldValue::Integer(5)},
      {1003, FieldValue::Decimal(1.5)},
      {1004, FieldValue::Date("2023-02-15T06:00:00Z")},
      {1005, FieldValue::Guid("4118d53a-9121-4345-8682-07f23d606daa")},
      {1006, FieldValue::GuidList({"g1", "g2"})},
      {1007, FieldValue::IntegerList({4})},
      {1008, FieldValue::Null()},
      {1009, FieldValue::Raw("TimeSpan", R"({"quantity":10,"increment":"Minutes"})")},
  };
  auto saved = Run<absl::StatusOr<SaveResult>>(
      [&](auto cb) { client_->SaveRecord(300, 0, fields, absl::InfiniteFuture(), std::move(cb)); });
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->id, 77);
  EXPECT_TRUE(saved->created);
  EXPECT_THAT(saved->warnings, ElementsAre("list value ignored"));

  const HttpRequest sent = transport_.requests().at(0);
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.url, "https://api.onspring.com/Records");
  EXPECT_FALSE(sent.idempotent);
  rapidjson::Document body = ParseBody(sent);
  EXPECT_EQ(body["appId"].GetInt(), 300);
  EXPECT_FALSE(body.HasMember("recordId"));
  const rapidjson::Value& f = body["fields"];
  EXPECT_EQ(f.MemberCount(), 9u);
  EXPECT_STREQ(f["1001"].GetString(), "Fred \"Q\" O'Brien ✓");
  EXPECT_EQ(f["1002"].GetInt(), 5);
  EXPECT_EQ(f["1003"].GetDouble(), 1.5);
  EXPECT_STREQ(f["1004"].GetString(), "2023-02-15T06:00:00Z");
  EXPECT_STREQ(f["1005"].GetString(), "4118d53a-9121-4345-8682-07f23d606daa");
  ASSERT_TRUE(f["1006"].IsArray());
  EXPECT_STREQ(f["1006"][1].GetString(), "g2");
  EXPECT_THAT(IntArray(f["1007"]), ElementsAre(4));
  EXPECT_TRUE(f["1008"].IsNull());
  EXPECT_EQ(f["1009"]["quantity"].GetInt(), 10);
}

TEST_F(OnspringClientTest, SaveRecordUpdate) {
  transport_.Enqueue(200, R"({"Id":12,"Warnings":[]})");
  auto saved = Run<absl::StatusOr<SaveResult>>([&](auto cb) {
    client_->SaveRecord(300, 12, {{1001, FieldValue::String("x")}}, absl::InfiniteFuture(),
                        std::move(cb));
  });
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->id, 12);
  EXPECT_FALSE(saved->created);
  EXPECT_TRUE(saved->warnings.empty());
  const HttpRequest sent = transport_.requests().at(0);
  EXPECT_TRUE(sent.idempotent);
  rapidjson::Document body = ParseBody(sent);
  EXPECT_EQ(body["recordId"].GetInt64(), 12);
  EXPECT_STREQ(body["fields"]["1001"].GetString(), "x");

  transport_.Enqueue(404, R"({"message":"Record 13 not found"})");
  saved = Run<absl::StatusOr<SaveResult>>([&](auto cb) {
    client_->SaveRecord(300, 13, {{1001, FieldValue::String("x")}}, absl::InfiniteFuture(),
                        std::move(cb));
  });
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(saved.status().message(), HasSubstr("Record 13 not found"));

  saved = Run<absl::StatusOr<SaveResult>>(
      [&](auto cb) { client_->SaveRecord(300, 12, {}, absl::InfiniteFuture(), std::move(cb)); });
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  saved = Run<absl::StatusOr<SaveResult>>([&](auto cb) {
    client_->SaveRecord(300, 12, {{1001, FieldValue::Raw("TimeSpan", "{bad")}},
                        absl::InfiniteFuture(), std::move(cb));
  });
  EXPECT_EQ(saved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport_.request_count(), 2u);
}

TEST_F(OnspringClientTest, DeleteRecord) {
  transport_.Enqueue(204, "");
  transport_.Enqueue(404, "");
  absl::Status status = Run<absl::Status>(
      [&](auto cb) { client_->DeleteRecord(300, 12, absl::InfiniteFuture(), std::move(cb)); });
  EXPECT_TRUE(status.ok()) << status;
  status = Run<absl::Status>(
      [&](auto cb) { client_->DeleteRecord(300, 12, absl::InfiniteFuture(), std::move(cb)); });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  const HttpRequest sent = transport_.requests().at(0);
  EXPECT_EQ(sent.method, "DELETE");
  EXPECT_EQ(sent.url, "https://api.onspring.com/Records/appId/300/recordId/12");
}

TEST_F(OnspringClientTest, GetFieldsByAppPagesAndParsesListAndReferenceFields) {
  transport_.Enqueue(200, R"({"pageNumber":1,"pageSize":1,"totalPages":2,"totalRecords":2,"items":[
      {"id":6986,"appId":195,"name":"Status","type":"List","status":"Enabled","isRequired":true,
       "isUnique":false,"multiplicity":"SingleSelect","listId":906,
       "values":[{"id":"4118d53a-9121-4345-8682-07f23d606daa","name":"In Progress","sortOrder":1,
                  "numericValue":1.0,"color":"#db3e3e"},
                 {"id":"g2","name":"Done","sortOrder":2,"numericValue":null,"color":"#ffffff"}]}]})");
  transport_.Enqueue(200, R"({"PageNumber":2,"TotalPages":2,"Items":[
      {"Id":6987,"AppId":195,"Name":"Owner","Type":"Reference","Status":"Enabled",
       "Multiplicity":"MultiSelect","ReferencedAppId":100}]})");
  auto fields = Run<absl::StatusOr<std::vector<Field>>>(
      [&](auto cb) { client_->GetFieldsByApp(195, absl::InfiniteFuture(), std::move(cb)); });
  ASSERT_TRUE(fields.ok()) << fields.status();
  ASSERT_EQ(fields->size(), 2u);
  const Field& list = (*fields)[0];
  EXPECT_EQ(list.id, 6986);
  EXPECT_EQ(list.app_id, 195);
  EXPECT_EQ(list.name, "Status");
  EXPECT_EQ(list.type, "List");
  EXPECT_TRUE(list.is_required);
  EXPECT_EQ(list.multiplicity, "SingleSelect");
  EXPECT_EQ(list.list_id, 906);
  EXPECT_EQ(list.referenced_app_id, std::nullopt);
  ASSERT_EQ(list.values.size(), 2u);
  EXPECT_EQ(list.values[0].id, "4118d53a-9121-4345-8682-07f23d606daa");
  EXPECT_EQ(list.values[0].name, "In Progress");
  EXPECT_EQ(list.values[0].sort_order, 1);
  EXPECT_EQ(list.values[0].numeric_value, 1.0);
  EXPECT_EQ(list.values[0].color, "#db3e3e");
  EXPECT_EQ(list.values[1].numeric_value, std::nullopt);
  const Field& ref = (*fields)[1];
  EXPECT_EQ(ref.id, 6987);
  EXPECT_EQ(ref.type, "Reference");
  EXPECT_EQ(ref.multiplicity, "MultiSelect");
  EXPECT_EQ(ref.referenced_app_id, 100);
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].url, "https://api.onspring.com/Fields/appId/195?PageNumber=1&PageSize=1000");
  EXPECT_EQ(sent[1].url, "https://api.onspring.com/Fields/appId/195?PageNumber=2&PageSize=1000");
}

TEST_F(OnspringClientTest, AddListValue) {
  transport_.Enqueue(201, R"({"id":"0b7f7a5e-3c4f-4b9e-9d1e-0a1b2c3d4e5f"})");
  auto id = Run<absl::StatusOr<std::string>>([&](auto cb) {
    client_->AddListValue(906, "Third Party Hosted", absl::InfiniteFuture(), std::move(cb));
  });
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "0b7f7a5e-3c4f-4b9e-9d1e-0a1b2c3d4e5f");
  const HttpRequest sent = transport_.requests().at(0);
  EXPECT_EQ(sent.method, "PUT");
  EXPECT_EQ(sent.url, "https://api.onspring.com/Lists/id/906/items");
  EXPECT_FALSE(sent.idempotent);
  rapidjson::Document body = ParseBody(sent);
  EXPECT_STREQ(body["name"].GetString(), "Third Party Hosted");
  EXPECT_EQ(body.MemberCount(), 1u);

  transport_.Enqueue(404, R"({"message":"List not found"})");
  id = Run<absl::StatusOr<std::string>>(
      [&](auto cb) { client_->AddListValue(907, "x", absl::InfiniteFuture(), std::move(cb)); });
  EXPECT_EQ(id.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(id.status().message(), HasSubstr("List not found"));
}

}  // namespace
}  // namespace onsync::clients::onspring
