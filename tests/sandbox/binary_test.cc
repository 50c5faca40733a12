// The onsync-sandbox binary: flags, ready lines, signals, seed files.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/sandbox/test_util.h"
#include "tests/support/process.h"

namespace onsync::sandbox::testing {
namespace {

using ::onsync::testing::BinaryPath;
using ::onsync::testing::ChildProcess;
using ::onsync::testing::HttpResult;
using ::onsync::testing::PortFromReadyLine;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kPatience = absl::Seconds(15);

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Running {
  ChildProcess process;
  int servicenow_port = 0;
  int onspring_port = 0;
};

absl::StatusOr<Running> StartBinary(std::vector<std::string> flags) {
  std::vector<std::string> argv = {BinaryPath("onsync-sandbox")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(std::move(argv));
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> servicenow =
      process->WaitForLine("servicenow listening on ", kPatience);
  if (!servicenow.ok()) return servicenow.status();
  absl::StatusOr<std::string> onspring = process->WaitForLine("onspring listening on ", kPatience);
  if (!onspring.ok()) return onspring.status();
  Running running{*std::move(process), PortFromReadyLine(*servicenow),
                  PortFromReadyLine(*onspring)};
  return running;
}

TEST(SandboxBinaryTest, PrintsReadyLinesServesAndStopsOnSigterm) {
  absl::StatusOr<Running> running = StartBinary(
      {"--servicenow-listen", "127.0.0.1:0", "--onspring-listen=127.0.0.1:0", "--latency-ms", "0"});
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_GT(running->servicenow_port, 0);
  EXPECT_GT(running->onspring_port, 0);
  EXPECT_EQ(running->process.Stdout(),
            absl::StrCat("servicenow listening on 127.0.0.1:", running->servicenow_port,
                         "\nonspring listening on 127.0.0.1:", running->onspring_port, "\n"));
  EXPECT_EQ(Call(running->onspring_port, "GET", "/Ping").status, 200);
  EXPECT_EQ(Call(running->servicenow_port, "GET", "/api/now/table/sys_user?sysparm_limit=1", "",
                 AdminBasic())
                .status,
            200);
  running->process.Signal(SIGTERM);
  absl::StatusOr<int> code = running->process.Wait(kPatience);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST(SandboxBinaryTest, FaultAndOutcomeFlags) {
  absl::StatusOr<Running> running =
      StartBinary({"--fail-next", "1", "--fail-status", "429", "--retry-after", "3",
                   "--fault-target", "servicenow", "--outcome-url", "http://127.0.0.1:9/x",
                   "--fault", R"({"target":"onspring","latency_ms":1})"});
  ASSERT_TRUE(running.ok()) << running.status();
  HttpResult result =
      Call(running->servicenow_port, "GET", "/api/now/table/sys_user", "", AdminBasic());
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(result.Header("retry-after"), "3");
  EXPECT_EQ(
      Call(running->servicenow_port, "GET", "/api/now/table/sys_user", "", AdminBasic()).status,
      200);
  EXPECT_EQ(Call(running->onspring_port, "GET", "/Apps", "", OnspringKey()).status, 200);
  rapidjson::Document info = Json(Call(running->onspring_port, "GET", "/__admin/info").body);
  EXPECT_EQ(Str(info["outcome_url"]), "http://127.0.0.1:9/x");
  rapidjson::Document faults = Json(Call(running->onspring_port, "GET", "/__admin/faults").body);
  EXPECT_EQ(faults["onspring"]["latency_ms"].GetInt(), 1);
  running->process.Signal(SIGINT);
  EXPECT_EQ(running->process.Wait(kPatience).value_or(-1), 0);
}

TEST(SandboxBinaryTest, RefusesNonLoopbackAndBadFlags) {
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--servicenow-listen", "0.0.0.0:0"},
                                             {"--no-such-flag"},
                                             {"--latency-ms", "soon"},
                                             {"--seed", "/nonexistent/seed.json"}}) {
    std::vector<std::string> argv = {BinaryPath("onsync-sandbox")};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv);
    ASSERT_TRUE(process.ok()) << process.status();
    absl::StatusOr<int> code = process->Wait(kPatience);
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 2) << flags[0] << ": " << process->Stderr();
    EXPECT_EQ(process->Stdout(), "");
  }
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start({BinaryPath("onsync-sandbox"), "--onspring-listen", "0.0.0.0:0"});
  ASSERT_TRUE(process.ok());
  ASSERT_TRUE(process->Wait(kPatience).ok());
  EXPECT_THAT(process->Stderr(), HasSubstr("non-loopback"));
}

TEST(SandboxBinaryTest, DefaultSeedFileMatchesTheBuiltInSeedAndSeedFilesLoad) {
  const std::string dir = ::testing::TempDir();
  const std::string written = dir + "/written_seed.json";
  absl::StatusOr<ChildProcess> writer =
      ChildProcess::Start({BinaryPath("onsync-sandbox"), "--write-default-seed", written});
  ASSERT_TRUE(writer.ok());
  ASSERT_EQ(writer->Wait(kPatience).value_or(-1), 0);
  const std::string source_seed =
      ReadText(onsync::testing::SourcePath("tests/sandbox/seed/default.json"));
  ASSERT_FALSE(source_seed.empty());
  EXPECT_EQ(ReadText(written), source_seed);

  // A modified copy is served.
  const std::string modified = dir + "/modified_seed.json";
  std::ofstream(modified) << absl::StrReplaceAll(source_seed, {{"Legacy CRM", "Renamed CRM"}});
  absl::StatusOr<Running> running = StartBinary({"--seed", modified});
  ASSERT_TRUE(running.ok()) << running.status();
  HttpResult result = Call(running->servicenow_port, "GET",
                           "/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DRenamed%20CRM",
                           "", AdminBasic());
  EXPECT_THAT(result.body, HasSubstr("Renamed CRM"));
  running->process.Signal(SIGTERM);
  EXPECT_EQ(running->process.Wait(kPatience).value_or(-1), 0);

  // A malformed seed is refused with the member named.
  const std::string broken = dir + "/broken_seed.json";
  std::ofstream(broken)
      << R"({"servicenow": {"tables": [{"name": ""}]}, "onspring": {"apps": []}})";
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start({BinaryPath("onsync-sandbox"), "--seed", broken});
  ASSERT_TRUE(process.ok());
  EXPECT_EQ(process->Wait(kPatience).value_or(-1), 2);
  EXPECT_THAT(process->Stderr(), HasSubstr("servicenow.tables"));
}

}  // namespace
}  // namespace onsync::sandbox::testing
