// The pure parts of `POST /v1/outcomes/{profile}`: profile names, the `mode` parameter and the
// 200 body. The HTTP behaviour is in outcome_route_http_test.cc.
#include "gateway/routes/outcome_route.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace onsync::gateway {
namespace {

using onsync::v1::SyncResult;

TEST(IsProfileNameTest, LowercaseLetterThenUpTo62LettersDigitsDashesUnderscores) {
  for (const std::string& name :
       {std::string("a"), std::string("business_app"), std::string("app-2"), std::string("z9_-"),
        "a" + std::string(62, 'b')}) {
    EXPECT_TRUE(IsProfileName(name)) << name;
  }
  for (const std::string& name :
       {std::string(""), std::string("Business_app"), std::string("1app"), std::string("_app"),
        std::string("-app"), std::string(".."), std::string("%2e%2e"), std::string("a/b"),
        std::string("a.b"), std::string("a b"), std::string("app%20x"), std::string("caf\xC3\xA9"),
        "a" + std::string(63, 'b')}) {
    EXPECT_FALSE(IsProfileName(name)) << name;
  }
}

TEST(SyncModeFromQueryTest, AbsentModeIsUnspecified) {
  EXPECT_EQ(*SyncModeFromQuery(""), onsync::v1::SYNC_MODE_UNSPECIFIED);
  EXPECT_EQ(*SyncModeFromQuery("x=1&modes=dry_run&amode=write_back"),
            onsync::v1::SYNC_MODE_UNSPECIFIED);
}

TEST(SyncModeFromQueryTest, TheThreeModes) {
  EXPECT_EQ(*SyncModeFromQuery("mode=respond"), onsync::v1::SYNC_MODE_RESPOND);
  EXPECT_EQ(*SyncModeFromQuery("a=b&mode=write_back"), onsync::v1::SYNC_MODE_WRITE_BACK);
  EXPECT_EQ(*SyncModeFromQuery("mode=dry_run&c"), onsync::v1::SYNC_MODE_DRY_RUN);
}

TEST(SyncModeFromQueryTest, OtherValuesAndRepeatsNameMode) {
  for (const char* query : {"mode=", "mode", "mode=RESPOND", "mode=async", "mode=dry_run=1",
                            "mode=respond&mode=respond", "mode=%72espond"}) {
    const auto mode = SyncModeFromQuery(query);
    EXPECT_EQ(mode.status().code(), absl::StatusCode::kInvalidArgument) << query;
    EXPECT_THAT(std::string(mode.status().message()), ::testing::StartsWith("mode: ")) << query;
  }
}

SyncResult ParseResult(const std::string& text) {
  SyncResult result;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &result)) << text;
  return result;
}

TEST(OutcomeResponseBodyTest, RespondModeIsTheFlatValues) {
  for (const char* mode : {"SYNC_MODE_RESPOND", "SYNC_MODE_UNSPECIFIED"}) {
    const SyncResult result = ParseResult(absl::StrCat(R"pb(
                                                         values {
                                                           fields {
                                                             key: "b"
                                                             value { number_value: 2 }
                                                           }
                                                           fields {
                                                             key: "a"
                                                             value { string_value: "x" }
                                                           }
                                                           fields {
                                                             key: "c"
                                                             value { null_value: NULL_VALUE }
                                                           }
                                                         }
                                                         written: false
                                                         mode:)pb",
                                                       mode));
    EXPECT_EQ(*OutcomeResponseBody(result), R"({"a":"x","b":2,"c":null})") << mode;
  }
}

TEST(OutcomeResponseBodyTest, WriteBackAndDryRunAreTheWholeResultWithDefaults) {
  const SyncResult result = ParseResult(R"pb(
    values {
      fields {
        key: "appOwner"
        value { number_value: 12 }
      }
    }
    target_record_id: 77
    mode: SYNC_MODE_DRY_RUN
  )pb");
  const absl::StatusOr<std::string> body = OutcomeResponseBody(result);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, R"({"values":{"appOwner":12},"changes":[],"created":[],"warnings":[],)"
                   R"("targetRecordId":"77","written":false,"mode":"SYNC_MODE_DRY_RUN"})");
}

}  // namespace
}  // namespace onsync::gateway
