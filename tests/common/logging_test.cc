#include "common/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace onsync
