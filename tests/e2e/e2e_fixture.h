// Starts onsync-server and onsync-gateway as child processes on free loopback ports.
// Thread safety: one test thread uses a fixture.
#ifndef ONSYNC_TESTS_E2E_E2E_FIXTURE_H_
#define ONSYNC_TESTS_E2E_E2E_FIXTURE_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace onsync::testing {

inline constexpr absl::Duration kStartTimeout = absl::Seconds(20);

// Writes `text` to a fresh temporary file and returns its path.
inline std::string WriteTempFile(const std::string& text) {
  char path[] = "/tmp/onsync-e2e-XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << text;
  return path;
}

class E2eTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& config_path) {
    auto server = ChildProcess::Start(
        {BinaryPath("onsync-server"), "--config", config_path, "--listen", "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    auto line = server_->WaitForLine("onsync-server listening on", kStartTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    server_port_ = PortFromReadyLine(*line);
    ASSERT_GT(server_port_, 0) << *line;
  }

  void StartGateway(std::vector<std::string> extra_flags = {}) {
    std::vector<std::string> argv = {BinaryPath("onsync-gateway"), "--listen", "127.0.0.1:0",
                                     "--server", absl::StrCat("127.0.0.1:", server_port_)};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    auto gateway = ChildProcess::Start(std::move(argv));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_.emplace(*std::move(gateway));
    auto line = gateway_->WaitForLine("onsync-gateway listening on", kStartTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    gateway_port_ = PortFromReadyLine(*line);
    ASSERT_GT(gateway_port_, 0) << *line;
  }

  std::optional<ChildProcess> server_;
  std::optional<ChildProcess> gateway_;
  int server_port_ = 0;
  int gateway_port_ = 0;
};

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_E2E_E2E_FIXTURE_H_
