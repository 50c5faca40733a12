#include "clients/http/http_status.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/redact.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

TEST(StatusFromHttpTest, MapsTheTable) {
  const struct {
    int http;
    absl::StatusCode code;
  } kCases[] = {
      {200, absl::StatusCode::kOk},
      {201, absl::StatusCode::kOk},
      {204, absl::StatusCode::kOk},
      {299, absl::StatusCode::kOk},
      {400, absl::StatusCode::kInvalidArgument},
      {401, absl::StatusCode::kUnauthenticated},
      {403, absl::StatusCode::kPermissionDenied},
      {404, absl::StatusCode::kNotFound},
      {405, absl::StatusCode::kFailedPrecondition},
      {408, absl::StatusCode::kUnavailable},
      {409, absl::StatusCode::kAborted},
      {410, absl::StatusCode::kFailedPrecondition},
      {412, absl::StatusCode::kFailedPrecondition},
      {413, absl::StatusCode::kFailedPrecondition},
      {422, absl::StatusCode::kInvalidArgument},
      {429, absl::StatusCode::kUnavailable},
      {499, absl::StatusCode::kUnavailable},
      {500, absl::StatusCode::kUnavailable},
      {501, absl::StatusCode::kUnavailable},
      {502, absl::StatusCode::kUnavailable},
      {503, absl::StatusCode::kUnavailable},
      {504, absl::StatusCode::kUnavailable},
      {599, absl::StatusCode::kUnavailable},
      {301, absl::StatusCode::kFailedPrecondition},
      {302, absl::StatusCode::kFailedPrecondition},
      {101, absl::StatusCode::kFailedPrecondition},
      {0, absl::StatusCode::kUnknown},
      {600, absl::StatusCode::kUnknown},
      {-1, absl::StatusCode::kUnknown},
  };
  for (const auto& [http, code] : kCases) {
    EXPECT_EQ(StatusFromHttp(http, "x").code(), code) << http;
  }
}

TEST(StatusFromHttpTest, MessageNamesTheStatus) {
  EXPECT_EQ(StatusFromHttp(503, "Service Unavailable").message(),
            "upstream answered HTTP 503: Service Unavailable");
  EXPECT_EQ(StatusFromHttp(404, "").message(), "upstream answered HTTP 404");
}

TEST(StatusFromHttpTest, CarriesTheHttpStatus) {
  EXPECT_THAT(HttpStatusOf(StatusFromHttp(429, "slow down")), Optional(429));
  EXPECT_EQ(HttpStatusOf(absl::UnavailableError("reset")), std::nullopt);
  EXPECT_EQ(HttpStatusOf(absl::OkStatus()), std::nullopt);
}

TEST(StatusFromHttpTest, MessageIsRedacted) {
  const absl::Status status =
      StatusFromHttp(401, "bad header Authorization: Basic dXNlcjpwYXNz received");
  EXPECT_THAT(status.message(), Not(HasSubstr("dXNlcjpwYXNz")));
  EXPECT_THAT(status.message(), HasSubstr("[REDACTED]"));
}

TEST(StatusFromHttpResponseTest, SummarizesTheBodyAndKeepsRetryAfter) {
  HttpResponse response;
  response.status = 429;
  response.headers = {{"retry-after", "17"}};
  response.body = "<html><body><h1>Too Many Requests</h1></body></html>";
  const absl::Status status = StatusFromHttpResponse(response, absl::UnixEpoch());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "upstream answered HTTP 429: Too Many Requests");
  EXPECT_THAT(RetryAfterFromStatus(status), Optional(absl::Seconds(17)));
  EXPECT_THAT(HttpStatusOf(status), Optional(429));

  response.status = 200;
  EXPECT_TRUE(StatusFromHttpResponse(response).ok());
  response.status = 503;
  response.headers.clear();
  EXPECT_EQ(RetryAfterFromStatus(StatusFromHttpResponse(response)), std::nullopt);
}

TEST(SummarizeBodyTest, EmptyAndWhitespace) {
  EXPECT_EQ(SummarizeBody(""), "");
  EXPECT_EQ(SummarizeBody(" \r\n\t "), "");
}

TEST(SummarizeBodyTest, JsonIsKeptCollapsed) {
  EXPECT_EQ(SummarizeBody("{\n  \"error\": {\"message\": \"No Record found\"},\n  \"status\": "
                          "\"failure\"\n}"),
            R"({ "error": {"message": "No Record found"}, "status": "failure" })");
  // Angle brackets in JSON are not mistaken for markup.
  EXPECT_EQ(SummarizeBody(R"({"message":"a < b > c"})"), R"({"message":"a < b > c"})");
}

TEST(SummarizeBodyTest, HtmlErrorPage) {
  const std::string page = R"(<!DOCTYPE html>
<html><head><title>503 Service Unavailable</title>
<style>body { color: red; }</style><script>var secret = 1;</script></head>
<body><h1>Service&nbsp;Unavailable</h1>
<p>The server is temporarily unable to service your request &amp; will be back.</p>
</body></html>)";
  EXPECT_EQ(SummarizeBody(page),
            "503 Service Unavailable Service Unavailable The server is temporarily unable to "
            "service your request & will be back.");
}

TEST(SummarizeBodyTest, UnterminatedMarkupIsTolerated) {
  EXPECT_EQ(SummarizeBody("<html><body>Oops <b"), "Oops");
  EXPECT_EQ(SummarizeBody("<html><script>never closed"), "");
}

TEST(SummarizeBodyTest, TruncatesAtMaxOnACharacterBoundary) {
  const std::string long_text(500, 'a');
  const std::string summary = SummarizeBody(long_text, 20);
  EXPECT_EQ(summary, std::string(20, 'a') + "...");
  // "é" is two bytes; a cut never splits it.
  EXPECT_EQ(SummarizeBody("ab\xC3\xA9\xC3\xA9", 5), "ab\xC3\xA9...");
}

TEST(SummarizeBodyTest, ControlCharactersAndInvalidUtf8) {
  EXPECT_EQ(SummarizeBody("line1\r\nline2\x1b[31m"), "line1 line2 [31m");
  EXPECT_EQ(SummarizeBody("caf\xE9 ok"), "caf? ok");
}

TEST(SummarizeBodyTest, BinaryBody) {
  const std::string binary("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
  EXPECT_EQ(SummarizeBody(binary), "(16 bytes of binary data)");
}

TEST(SummarizeBodyTest, HugeBodiesAreBounded) {
  const std::string huge(10 << 20, 'x');
  const std::string summary = SummarizeBody(huge);
  EXPECT_EQ(summary.size(), 203u);
}

}  // namespace
}  // namespace onsync::clients
