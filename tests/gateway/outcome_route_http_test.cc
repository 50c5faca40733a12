// `POST /v1/outcomes/{profile}` over real sockets: a real Gateway in front of a fake SyncService.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/routes/outcome_route.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/gateway/sync_routes_fixture.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::util::MessageDifferencer;
using onsync::testing::ExpectError;
using onsync::testing::HttpResult;
using onsync::testing::kJson;
using onsync::testing::kTimeoutRounding;
using onsync::testing::ParseJson;
using onsync::testing::ReceivedSync;
using onsync::testing::SyncRoutesTest;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kEvent[] = R"({"recordId": 42, "name": "O'Brien Ledger",
                              "extra": {"list": [1, "two", null], "flag": true}})";

class OutcomeRouteTest : public SyncRoutesTest {
 protected:
  absl::StatusOr<HttpResult> PostOutcome(const std::string& target, const std::string& body,
                                         Headers headers = {{"Content-Type", kJson}}) {
    return Request("POST", target, body, std::move(headers));
  }

  // Answers the next calls with `result` (text format).
  void AnswerResult(const std::string& result) {
    onsync::v1::SyncRecordResponse response;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        absl::StrCat("result { ", result, " }"), &response));
    fake_.Answer(std::move(response));
  }
};

TEST_F(OutcomeRouteTest, BadProfileNamesAre404WithoutACall) {
  const std::string long_name(64, 'a');
  for (const std::string& name :
       {std::string(""), std::string(".."), std::string("%2e%2e"), std::string("%2E%2E/etc"),
        std::string("../etc/passwd"), std::string("a/b"), std::string("business_app/"),
        std::string("Business_app"), std::string("1app"), std::string("_app"), std::string("a.b"),
        std::string("a%20b"), long_name, long_name + "bbbb"}) {
    SCOPED_TRACE(name);
    ExpectError(PostOutcome(absl::StrCat("/v1/outcomes/", name), kEvent), 404, 5, "no profile");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, RejectedNameIsQuotedEscapedAndCut) {
  const std::string long_name = std::string(64, 'a') + "TAIL";
  const absl::StatusOr<HttpResult> result =
      PostOutcome(absl::StrCat("/v1/outcomes/", long_name), kEvent);
  ExpectError(result, 404, 5, absl::StrCat("no profile \"", std::string(64, 'a'), "\""));
  EXPECT_THAT(result->body, Not(HasSubstr("TAIL")));

  ExpectError(PostOutcome("/v1/outcomes/a\\b", kEvent), 404, 5, R"(no profile "a\\b")");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, BodyThatIsNotAJsonObjectIs400WithoutACall) {
  for (const char* body : {"", "[1, 2]", "\"name\"", "42", "{\"name\": ", "<xml/>"}) {
    SCOPED_TRACE(body);
    ExpectError(PostOutcome("/v1/outcomes/business_app", body), 400, 3, "must be a JSON object");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, NonJsonContentTypeIs415WithoutACall) {
  ExpectError(PostOutcome("/v1/outcomes/business_app", kEvent, {{"Content-Type", "text/plain"}}),
              415, 3, "application/json");
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"GET", "PUT", "PATCH"}) {
    const absl::StatusOr<HttpResult> result = Request(method, "/v1/outcomes/business_app", "", {});
    ExpectError(result, 405, 12, "not allowed");
    EXPECT_EQ(result->Header("allow").value_or(""), "POST");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, ForwardsTheBodyAsTheTriggerWithTheProfileName) {
  AnswerResult("mode: SYNC_MODE_RESPOND");
  const std::string name = "a" + std::string(62, 'z');  // the longest valid name
  for (const std::string& profile : {std::string("business_app"), name}) {
    const absl::StatusOr<HttpResult> result =
        PostOutcome(absl::StrCat("/v1/outcomes/", profile), kEvent);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200) << result->body;
  }
  // An absent Content-Type is accepted too.
  ASSERT_TRUE(PostOutcome("/v1/outcomes/business_app", kEvent, {}).ok());

  const std::vector<ReceivedSync> calls = fake_.calls();
  ASSERT_THAT(calls, SizeIs(3));
  onsync::v1::SyncRecordRequest expected;
  expected.set_profile("business_app");
  *expected.mutable_trigger()->mutable_body() = ParseJson(kEvent);
  std::string differences;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&differences);
  EXPECT_TRUE(differencer.Compare(expected, calls[0].request)) << differences;
  EXPECT_EQ(calls[0].request.mode(), onsync::v1::SYNC_MODE_UNSPECIFIED);
  EXPECT_EQ(calls[0].request.trigger().key(), "");
  EXPECT_FALSE(calls[0].request.has_connections());
  EXPECT_EQ(calls[1].request.profile(), name);
  EXPECT_TRUE(MessageDifferencer::Equals(expected, calls[2].request));
}

TEST_F(OutcomeRouteTest, ModeQueryParameter) {
  AnswerResult("mode: SYNC_MODE_RESPOND");
  const std::pair<const char*, onsync::v1::SyncMode> table[] = {
      {"?mode=respond", onsync::v1::SYNC_MODE_RESPOND},
      {"?mode=write_back", onsync::v1::SYNC_MODE_WRITE_BACK},
      {"?source=onspring&mode=dry_run", onsync::v1::SYNC_MODE_DRY_RUN},
      {"?source=onspring", onsync::v1::SYNC_MODE_UNSPECIFIED},
  };
  for (const auto& [query, mode] : table) {
    const absl::StatusOr<HttpResult> result =
        PostOutcome(absl::StrCat("/v1/outcomes/business_app", query), kEvent);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200) << query << ": " << result->body;
    const std::vector<ReceivedSync> calls = fake_.calls();
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.back().request.mode(), mode) << query;
  }
}

TEST_F(OutcomeRouteTest, BadModeIs400NamingModeWithoutACall) {
  for (const char* query :
       {"?mode=", "?mode=async", "?mode=WRITE_BACK", "?mode=respond&mode=dry_run"}) {
    ExpectError(PostOutcome(absl::StrCat("/v1/outcomes/business_app", query), kEvent), 400, 3,
                "mode: ");
  }
  EXPECT_THAT(fake_.calls(), IsEmpty());
}

TEST_F(OutcomeRouteTest, RespondModeAnswersTheFlatValuesSortedWithWarnings) {
  AnswerResult(R"pb(
    values {
      fields {
        key: "regulatory"
        value { string_value: "7|9" }
      }
      fields {
        key: "appOwner"
        value { number_value: 12 }
      }
      fields {
        key: "l3"
        value { null_value: NULL_VALUE }
      }
      fields {
        key: "ratio"
        value { number_value: 0.25 }
      }
      fields {
        key: "nested"
        value {
          struct_value {
            fields {
              key: "b"
              value { bool_value: true }
            }
          }
        }
      }
    }
    warnings { code: "EMPTY_REFERENCE" field: "l3" }
    mode: SYNC_MODE_RESPOND
  )pb");
  const absl::StatusOr<HttpResult> result = PostOutcome("/v1/outcomes/business_app", kEvent);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
  EXPECT_EQ(result->body,
            R"({"appOwner":12,"l3":null,"nested":{"b":true},"ratio":0.25,"regulatory":"7|9"})");
  EXPECT_EQ(result->Header("onsync-warnings").value_or(""), "EMPTY_REFERENCE:l3");
}

TEST_F(OutcomeRouteTest, WriteBackAnswersTheWholeResult) {
  AnswerResult(R"pb(
    values {
      fields {
        key: "appOwner"
        value { number_value: 12 }
      }
    }
    changes { field: "appOwner" field_id: 3003 old_value: "" new_value: "12" }
    created { app_id: 100 record_id: 12 match_value: "Fred Jones" }
    warnings { code: "REFERENCE_NOT_FOUND" field: "regulatory" message: "no HIPAA" }
    target_record_id: 77
    written: false
    mode: SYNC_MODE_WRITE_BACK
  )pb");
  const absl::StatusOr<HttpResult> result =
      PostOutcome("/v1/outcomes/business_app?mode=write_back", kEvent);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->Header("onsync-warnings").value_or(""), "REFERENCE_NOT_FOUND:regulatory");
  const Struct body = ParseJson(result->body);
  const auto& fields = body.fields();
  EXPECT_EQ(fields.at("written").kind_case(), google::protobuf::Value::kBoolValue);
  EXPECT_FALSE(fields.at("written").bool_value());
  EXPECT_EQ(fields.at("mode").string_value(), "SYNC_MODE_WRITE_BACK");
  EXPECT_EQ(fields.at("targetRecordId").string_value(), "77");
  EXPECT_EQ(fields.at("values").struct_value().fields().at("appOwner").number_value(), 12);
  const auto& change = fields.at("changes").list_value().values(0).struct_value().fields();
  EXPECT_EQ(change.at("fieldId").number_value(), 3003);
  EXPECT_EQ(change.at("oldValue").string_value(), "");
  EXPECT_EQ(change.at("newValue").string_value(), "12");
  const auto& created = fields.at("created").list_value().values(0).struct_value().fields();
  EXPECT_EQ(created.at("matchValue").string_value(), "Fred Jones");
  const auto& warning = fields.at("warnings").list_value().values(0).struct_value().fields();
  EXPECT_EQ(warning.at("message").string_value(), "no HIPAA");
}

TEST_F(OutcomeRouteTest, ServerErrorsMapThroughTheTable) {
  const std::pair<grpc::StatusCode, int> table[] = {
      {grpc::StatusCode::NOT_FOUND, 404},         {grpc::StatusCode::ABORTED, 409},
      {grpc::StatusCode::UNAVAILABLE, 503},       {grpc::StatusCode::DEADLINE_EXCEEDED, 504},
      {grpc::StatusCode::PERMISSION_DENIED, 403}, {grpc::StatusCode::FAILED_PRECONDITION, 400},
  };
  for (const auto& [code, http_status] : table) {
    fake_.Fail(grpc::Status(code, "no profile \"business_app\""));
    ExpectError(PostOutcome("/v1/outcomes/business_app", kEvent), http_status,
                static_cast<int>(code), "no profile \"business_app\"");
  }
}

TEST_F(OutcomeRouteTest, TracingHeadersAndDeadlineTravelWithTheCall) {
  AnswerResult("mode: SYNC_MODE_RESPOND");
  ASSERT_TRUE(
      PostOutcome("/v1/outcomes/business_app", kEvent,
                  {{"Content-Type", kJson}, {"x-request-id", "evt-7"}, {"grpc-timeout", "2S"}})
          .ok());
  const std::vector<ReceivedSync> calls = fake_.calls();
  ASSERT_THAT(calls, SizeIs(1));
  EXPECT_EQ(calls[0].metadata.find("x-request-id")->second, "evt-7");
  EXPECT_GT(calls[0].time_left, absl::ZeroDuration());
  EXPECT_LE(calls[0].time_left, absl::Seconds(2) + kTimeoutRounding);
}

TEST_F(OutcomeRouteTest, AnAsyncProfilesJobIsAnswered202WithItsIdAndLocation) {
  onsync::v1::SyncRecordResponse response;
  response.mutable_job()->set_id("j_01JABCDEFGHJKMNPQRSTVWXYZ0");
  response.mutable_job()->set_state(onsync::v1::JOB_STATE_QUEUED);
  fake_.Answer(response);
  const absl::StatusOr<HttpResult> result = PostOutcome("/v1/outcomes/business_app", kEvent);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 202) << result->body;
  EXPECT_EQ(result->body, R"({"jobId":"j_01JABCDEFGHJKMNPQRSTVWXYZ0","state":"QUEUED"})");
  EXPECT_EQ(result->Header("location").value_or(""), "/v1/jobs/j_01JABCDEFGHJKMNPQRSTVWXYZ0");
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
}

TEST_F(OutcomeRouteTest, JobsRouteAnswersTheJobAsProto3Json) {
  onsync::v1::Job job;
  job.set_id("j_01JABCDEFGHJKMNPQRSTVWXYZ0");
  job.set_profile("business_app");
  job.set_state(onsync::v1::JOB_STATE_SUCCEEDED);
  job.mutable_result()->set_written(true);
  fake_.SetJob(job);
  absl::StatusOr<HttpResult> result =
      Request("GET", "/v1/jobs/j_01JABCDEFGHJKMNPQRSTVWXYZ0", "", {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  const Struct body = ParseJson(result->body);
  EXPECT_EQ(body.fields().at("id").string_value(), "j_01JABCDEFGHJKMNPQRSTVWXYZ0");
  EXPECT_EQ(body.fields().at("state").string_value(), "JOB_STATE_SUCCEEDED");
  EXPECT_EQ(body.fields().at("attempts").number_value(), 0);  // Defaults are printed.
  EXPECT_TRUE(body.fields().at("result").struct_value().fields().at("written").bool_value());

  ExpectError(Request("GET", "/v1/jobs/j_0000000000ZZZZZZZZZZZZZZZZ", "", {}), 404, 5,
              "no job j_0000000000ZZZZZZZZZZZZZZZZ");
  // Malformed ids and traversal never reach the server.
  for (const std::string id : {"", "x", "j_", "j_a/b", "../etc", "j_%2e%2e", "j_a.b"}) {
    SCOPED_TRACE(id);
    ExpectError(Request("GET", absl::StrCat("/v1/jobs/", id), "", {}), 404, 5, "no job");
  }
  EXPECT_EQ(fake_.job_requests().size(), 2u);
  ExpectError(Request("POST", "/v1/jobs/j_01JABCDEFGHJKMNPQRSTVWXYZ0", "{}", {}), 405, 12,
              "not allowed");
}

}  // namespace
}  // namespace onsync::gateway
