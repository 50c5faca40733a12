#include "common/logging.h"

#include <fcntl.h>
#include <grpc/support/log.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "spdlog/spdlog.h"

namespace onsync {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

TEST(JsonTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("plain"), "plain");
  EXPECT_EQ(JsonEscape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(JsonEscape("l1\nl2\r\t"), "l1\\nl2\\r\\t");
  EXPECT_EQ(JsonEscape(std::string("nul\0x", 5)), "nul\\u0000x");
  EXPECT_EQ(JsonEscape("\x1f"), "\\u001f");
  EXPECT_EQ(JsonEscape("Zoë ✓"), "Zoë ✓");
  EXPECT_EQ(JsonQuote("x\"y"), "\"x\\\"y\"");
}

TEST(LoggingTest, ParseLevel) {
  EXPECT_EQ(*logging::ParseLevel("DEBUG"), logging::Level::kDebug);
  EXPECT_EQ(*logging::ParseLevel("info"), logging::Level::kInfo);
  EXPECT_EQ(*logging::ParseLevel("warn"), logging::Level::kWarn);
  EXPECT_EQ(*logging::ParseLevel("error"), logging::Level::kError);
  EXPECT_EQ(logging::ParseLevel("loud").status().code(), absl::StatusCode::kInvalidArgument);
}

// Captures what is written to stderr while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    std::snprintf(path_, sizeof path_, "/tmp/onsync-logging-test-XXXXXX");
    const int fd = mkstemp(path_);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  std::string Finish() {
    spdlog::default_logger()->flush();
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    unlink(path_);
    return text.str();
  }

 private:
  int saved_ = -1;
  char path_[64];
};

TEST(LoggingTest, WritesOneEscapedJsonObjectPerLineAndHonoursTheLevel) {
  StderrCapture capture;
  logging::Init("tester", logging::Level::kInfo);
  spdlog::info("say \"{}\"\nnext", "hi");
  spdlog::debug("hidden at info");
  const std::string text = capture.Finish();

  EXPECT_THAT(text, Not(HasSubstr("hidden at info")));
  const std::string line = text.substr(0, text.find('\n'));
  EXPECT_THAT(line, MatchesRegex(R"(\{"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z",)"
                                 R"("level":"info","component":"tester",)"
                                 R"("message":"say \\"hi\\"\\nnext"\})"));
}

// Each line of `text` parsed as one JSON object (a test failure for a line that is not one).
std::vector<rapidjson::Document> ParseLines(const std::string& text) {
  std::vector<rapidjson::Document> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    rapidjson::Document document;
    document.Parse(line.c_str(), line.size());
    EXPECT_FALSE(document.HasParseError()) << line;
    EXPECT_TRUE(document.IsObject()) << line;
    if (!document.HasParseError() && document.IsObject()) lines.push_back(std::move(document));
  }
  return lines;
}

std::string Field(const rapidjson::Document& line, const char* name) {
  if (!line.HasMember(name) || !line[name].IsString()) return "<absent>";
  return line[name].GetString();
}

TEST(LoggingTest, LinesOfAnEventCarryItsRequestJobAndTraceIds) {
  StderrCapture capture;
  logging::Init("tester", logging::Level::kDebug);
  const logging::LogContext event{
      .request_id = "req \"7\"", .job_id = "j_1", .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"};
  logging::Log(event, logging::Level::kInfo, "synced {}", 3);
  logging::Log(logging::LogContext{.trace_id = "abc"}, logging::Level::kDebug, "only a trace");
  spdlog::info("outside any event");
  const std::string text = capture.Finish();

  const std::vector<rapidjson::Document> lines = ParseLines(text);
  ASSERT_EQ(lines.size(), 3u) << text;
  EXPECT_EQ(Field(lines[0], "message"), "synced 3");
  EXPECT_EQ(Field(lines[0], "level"), "info");
  EXPECT_EQ(Field(lines[0], "component"), "tester");
  EXPECT_EQ(Field(lines[0], "request_id"), "req \"7\"");
  EXPECT_EQ(Field(lines[0], "job_id"), "j_1");
  EXPECT_EQ(Field(lines[0], "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(Field(lines[1], "level"), "debug");
  EXPECT_EQ(Field(lines[1], "trace_id"), "abc");
  EXPECT_FALSE(lines[1].HasMember("request_id"));
  EXPECT_FALSE(lines[1].HasMember("job_id"));
  EXPECT_FALSE(lines[2].HasMember("trace_id"));
  EXPECT_EQ(Field(lines[2], "message"), "outside any event");
}

TEST(LoggingTest, LogBelowTheLevelWritesNothing) {
  StderrCapture capture;
  logging::Init("tester", logging::Level::kWarn);
  EXPECT_FALSE(logging::Enabled(logging::Level::kInfo));
  EXPECT_TRUE(logging::Enabled(logging::Level::kError));
  logging::Log(logging::LogContext{.job_id = "j_2"}, logging::Level::kInfo, "not written");
  EXPECT_EQ(capture.Finish(), "");
}

TEST(LoggingTest, ScopedContextAppliesToItsThreadUntilItEnds) {
  StderrCapture capture;
  logging::Init("tester", logging::Level::kInfo);
  const logging::LogContext outer{.job_id = "j_outer"};
  const logging::LogContext inner{.job_id = "j_inner", .trace_id = "t"};
  {
    const logging::ScopedLogContext outer_scope(outer);
    spdlog::info("in outer");
    {
      const logging::ScopedLogContext inner_scope(inner);
      spdlog::info("in inner");
    }
    spdlog::info("outer again");
    std::thread other([] { spdlog::info("another thread"); });
    other.join();
  }
  spdlog::info("after");
  const std::vector<rapidjson::Document> lines = ParseLines(capture.Finish());
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(Field(lines[0], "job_id"), "j_outer");
  EXPECT_EQ(Field(lines[1], "job_id"), "j_inner");
  EXPECT_EQ(Field(lines[1], "trace_id"), "t");
  EXPECT_EQ(Field(lines[2], "job_id"), "j_outer");
  EXPECT_FALSE(lines[2].HasMember("trace_id"));
  EXPECT_FALSE(lines[3].HasMember("job_id"));
  EXPECT_FALSE(lines[4].HasMember("job_id"));
}

TEST(LoggingTest, GrpcCoreLogsJoinTheSameStream) {
  StderrCapture capture;
  logging::Init("tester", logging::Level::kInfo);
  gpr_log(GPR_ERROR, "core says \"%s\"", "hello");
  const std::vector<rapidjson::Document> lines = ParseLines(capture.Finish());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "level"), "error");
  EXPECT_THAT(Field(lines[0], "message"), HasSubstr("grpc: core says \"hello\""));
}

}  // namespace
}  // namespace onsync
