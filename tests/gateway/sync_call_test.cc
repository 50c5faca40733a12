#include "gateway/routes/sync_call.h"

#include <cmath>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::HasSubstr;

Value Number(double number) {
  Value value;
  value.set_number_value(number);
  return value;
}

Struct ParseStruct(const std::string& json) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

TEST(ValueToJsonTest, IntegralNumbersHaveNoDecimalPointOrExponent) {
  EXPECT_EQ(ValueToJson(Number(12)), "12");
  EXPECT_EQ(ValueToJson(Number(-3)), "-3");
  EXPECT_EQ(ValueToJson(Number(0)), "0");
  EXPECT_EQ(ValueToJson(Number(-0.0)), "0");
  EXPECT_EQ(ValueToJson(Number(2147483647)), "2147483647");
  EXPECT_EQ(ValueToJson(Number(9007199254740993.0)), "9007199254740992");  // 2^53 + 1 rounds
  EXPECT_EQ(ValueToJson(Number(1e21)), "1000000000000000000000");
}

TEST(ValueToJsonTest, OtherNumbersRoundTripInShortestForm) {
  EXPECT_EQ(ValueToJson(Number(1.5)), "1.5");
  EXPECT_EQ(ValueToJson(Number(0.1)), "0.1");
  EXPECT_EQ(ValueToJson(Number(-2.25)), "-2.25");
  EXPECT_EQ(ValueToJson(Number(1e-7)), "1e-07");
  EXPECT_EQ(ValueToJson(Number(0.1 + 0.2)), "0.30000000000000004");
  EXPECT_EQ(ValueToJson(Number(1.0 / 3)), "0.3333333333333333");
}

TEST(ValueToJsonTest, NonFiniteNumbersAreNull) {
  EXPECT_EQ(ValueToJson(Number(std::numeric_limits<double>::quiet_NaN())), "null");
  EXPECT_EQ(ValueToJson(Number(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(ValueToJson(Number(-std::numeric_limits<double>::infinity())), "null");
}

TEST(ValueToJsonTest, ScalarsAndUnsetValues) {
  Value value;
  EXPECT_EQ(ValueToJson(value), "null");  // kind not set
  value.set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_EQ(ValueToJson(value), "null");
  value.set_bool_value(true);
  EXPECT_EQ(ValueToJson(value), "true");
  value.set_bool_value(false);
  EXPECT_EQ(ValueToJson(value), "false");
  value.set_string_value("O'Brien \"Ledger\"\n\\ caf\xC3\xA9");
  EXPECT_EQ(ValueToJson(value), R"("O'Brien \"Ledger\"\n\\ café")");
  value.set_string_value("");
  EXPECT_EQ(ValueToJson(value), R"("")");
}

TEST(ValueToJsonTest, NestedValuesSortObjectKeysAndKeepListOrder) {
  Value value;
  *value.mutable_struct_value() =
      ParseStruct(R"({"b": [3, "x", null, {"z": 1, "y": false}], "a": {}, "c": []})");
  EXPECT_EQ(ValueToJson(value), R"({"a":{},"b":[3,"x",null,{"y":false,"z":1}],"c":[]})");
}

TEST(StructToJsonTest, KeysAreSortedAndEscaped) {
  EXPECT_EQ(StructToJson(Struct()), "{}");
  EXPECT_EQ(StructToJson(ParseStruct(R"({"regulatory": "7|9", "appOwner": 12, "a\"b": null})")),
            R"({"a\"b":null,"appOwner":12,"regulatory":"7|9"})");
}

TEST(WarningsHeaderValueTest, CodeAndFieldEntriesJoinedByCommaSpace) {
  onsync::v1::SyncResult result;
  EXPECT_EQ(WarningsHeaderValue(result.warnings()), "");
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        warnings { code: "EMPTY_REFERENCE" field: "l3" message: "no value" }
        warnings { code: "REFERENCE_NOT_FOUND" field: "regulatory" }
        warnings { code: "CACHE_COLD" }
      )pb",
      &result));
  EXPECT_EQ(WarningsHeaderValue(result.warnings()),
            "EMPTY_REFERENCE:l3, REFERENCE_NOT_FOUND:regulatory, CACHE_COLD");
}

TEST(WarningsHeaderValueTest, ControlCharactersAreRemoved) {
  onsync::v1::SyncResult result;
  onsync::v1::Warning& warning = *result.add_warnings();
  warning.set_code("BAD\r\nInjected: yes");
  warning.set_field("f\x7f\t");
  EXPECT_EQ(WarningsHeaderValue(result.warnings()), "BADInjected: yes:f");
}

http::Request JsonRequest(std::string body, std::optional<std::string> content_type) {
  http::Request request;
  request.method = "POST";
  request.body = std::move(body);
  if (content_type) request.headers.emplace_back("content-type", *content_type);
  return request;
}

TEST(ReadJsonObjectBodyTest, AcceptsAnObjectWithOrWithoutJsonContentType) {
  for (const std::optional<std::string>& content_type :
       {std::optional<std::string>(), std::optional<std::string>("application/json"),
        std::optional<std::string>("application/json; charset=utf-8")}) {
    Struct body;
    const auto error =
        ReadJsonObjectBody(JsonRequest(R"({"name": "Payroll"})", content_type), body);
    EXPECT_FALSE(error.has_value()) << error->body;
    EXPECT_EQ(body.fields().at("name").string_value(), "Payroll");
  }
}

TEST(ReadJsonObjectBodyTest, OtherContentTypesAre415) {
  Struct body;
  const auto error = ReadJsonObjectBody(JsonRequest("{}", "text/plain"), body);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->status, 415);
  EXPECT_THAT(error->body, HasSubstr("application/json"));
}

TEST(ReadJsonObjectBodyTest, AnythingButAnObjectIs400) {
  for (const char* bad : {"", "[1]", "\"text\"", "12", "null", "{bad", "{\"a\": 1} x"}) {
    Struct body;
    const auto error = ReadJsonObjectBody(JsonRequest(bad, "application/json"), body);
    ASSERT_TRUE(error.has_value()) << bad;
    EXPECT_EQ(error->status, 400) << bad;
    EXPECT_THAT(error->body, HasSubstr("must be a JSON object")) << bad;
  }
}

}  // namespace
}  // namespace onsync::gateway
