// onsync-server and onsync-gateway as a user runs them.
#include <signal.h>

#include <string>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kExitTimeout = absl::Seconds(15);

// Runs onsync-server with `args` and returns its exit code and stderr.
std::pair<int, std::string> RunServerExpectingExit(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("onsync-server"));
  auto server = ChildProcess::Start(std::move(args));
  EXPECT_TRUE(server.ok()) << server.status();
  const absl::StatusOr<int> code = server->Wait(kExitTimeout);
  EXPECT_TRUE(code.ok()) << code.status();
  return {code.value_or(-1), server->Stderr()};
}

TEST(ServerConfigErrorsTest, ExitWithCode2AndNameTheKeyPath) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"profiles:\n  app:\n    source: {table: t, key_field: k, colour: red}\n",
       "profiles.app.source.colour"},
      {"server:\n  max_in_flight_syncs: lots\n", "server.max_in_flight_syncs"},
      {"profiles:\n  app:\n    source: {key_field: k}\n", "profiles.app.source.table"},
      {"onspring:\n  base_url: https://api.onspring.com\n  api_key: plain-text-key\n",
       "onspring.api_key"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTempFile(c.yaml);
    const auto [code, stderr_text] = RunServerExpectingExit({"--config", path});
    EXPECT_EQ(code, 2) << c.yaml << stderr_text;
    EXPECT_THAT(stderr_text, HasSubstr(c.expected)) << c.yaml;
    EXPECT_THAT(stderr_text, ::testing::Not(HasSubstr("plain-text-key")));
    std::remove(path.c_str());
  }
}

TEST(ServerConfigErrorsTest, MissingOrUnreadableConfigExitsWith2) {
  EXPECT_EQ(RunServerExpectingExit({}).first, 2);
  const auto [code, stderr_text] = RunServerExpectingExit({"--config", "/nonexistent/onsync.yaml"});
  EXPECT_EQ(code, 2);
  EXPECT_THAT(stderr_text, HasSubstr("/nonexistent/onsync.yaml"));
}

class BinariesTest : public E2eTest {};

TEST_F(BinariesTest, ServeTheExampleConfigAndStopGracefullyOnSigterm) {
  StartServer(SourcePath("deploy/examples/business-app.yaml"));
  StartGateway();

  const auto ready = HttpRequest("127.0.0.1", gateway_port_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;

  const auto profiles =
      HttpRequest("127.0.0.1", gateway_port_, "POST", "/onsync.v1.SyncService/ListProfiles", "{}",
                  {{"Content-Type", "application/json"}});
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  EXPECT_EQ(profiles->status, 200) << profiles->body;
  EXPECT_THAT(profiles->body, HasSubstr(R"("name":"business_app")"));
  EXPECT_THAT(profiles->body, HasSubstr(R"("table":"cmdb_ci_business_app")"));

  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(kExitTimeout).value_or(-1), 0) << server_->Stderr();
  // With the server gone the gateway stays up but is no longer ready.
  const auto not_ready = HttpRequest("127.0.0.1", gateway_port_, "GET", "/readyz");
  ASSERT_TRUE(not_ready.ok()) << not_ready.status();
  EXPECT_EQ(not_ready->status, 503);

  gateway_->Signal(SIGINT);
  EXPECT_EQ(gateway_->Wait(kExitTimeout).value_or(-1), 0) << gateway_->Stderr();

  // Every log line of both processes is one JSON object with the documented keys.
  for (ChildProcess* process : {&*server_, &*gateway_}) {
    for (const std::string& line : static_cast<std::vector<std::string>>(
             absl::StrSplit(process->Stderr(), '\n', absl::SkipEmpty()))) {
      google::protobuf::Struct parsed;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
      for (const char* key : {"time", "level", "component", "message"}) {
        EXPECT_TRUE(parsed.fields().contains(key)) << key << " missing in " << line;
      }
    }
  }
  EXPECT_THAT(server_->Stderr(), HasSubstr("shutting down"));
}

}  // namespace
}  // namespace onsync::testing
