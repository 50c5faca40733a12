// Starts onsync-server and onsync-gateway as child processes on free loopback ports.
// Thread safety: one test thread uses a fixture.
#ifndef ONSYNC_TESTS_E2E_E2E_FIXTURE_H_
#define ONSYNC_TESTS_E2E_E2E_FIXTURE_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

// The whole text of the file at `path` (empty, with a test failure, when it cannot be read).
inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A config for the sandbox, as scripts/run.sh writes it: `yaml` (e.g. the text of
// deploy/examples/business-app.yaml) plus the top-level `servicenow` (Basic admin/sandbox) and
// `onspring` (API key sandbox-key) sections it lacks, pointed at the given URLs. The secrets go to
// fresh temporary files, whose paths are appended to `secret_files` (the caller removes them).
inline std::string WithSandboxConnections(const std::string& yaml,
                                          const std::string& servicenow_url,
                                          const std::string& onspring_url,
                                          std::vector<std::string>& secret_files) {
  bool has_servicenow = false;
  bool has_onspring = false;
  for (absl::string_view line : absl::StrSplit(yaml, '\n')) {
    has_servicenow = has_servicenow || absl::StartsWith(line, "servicenow:");
    has_onspring = has_onspring || absl::StartsWith(line, "onspring:");
  }
  std::string text = yaml;
  if (!text.empty() && text.back() != '\n') text.push_back('\n');
  if (!has_servicenow) {
    secret_files.push_back(WriteTempFile("sandbox"));
    absl::StrAppend(&text, "servicenow:\n  instance_url: ", servicenow_url,
                    "\n  auth: {basic: {username: admin, password_file: ", secret_files.back(),
                    "}}\n");
  }
  if (!has_onspring) {
    secret_files.push_back(WriteTempFile("sandbox-key"));
    absl::StrAppend(&text, "onspring:\n  base_url: ", onspring_url,
                    "\n  api_key_file: ", secret_files.back(), "\n");
  }
  return text;
}

class E2eTest : public ::testing::Test {
 protected:
  // `jobs_db`: the job store's file; empty: a fresh temporary file for this server. `listen`: the
  // server's address (a restart passes the previous port, so that the gateway finds it again).
  void StartServer(const std::string& config_path, std::string jobs_db = "",
                   const std::string& listen = "127.0.0.1:0") {
    if (jobs_db.empty()) {
      jobs_db = WriteTempFile("");
      temp_files_.push_back(jobs_db);
      jobs_db += ".jobs.db";
      // SQLite's WAL mode keeps two companion files.
      for (const char* suffix : {"", "-wal", "-shm"}) temp_files_.push_back(jobs_db + suffix);
    }
    jobs_db_ = jobs_db;
    auto server =
        ChildProcess::Start({BinaryPath("onsync-server"), "--config", config_path, "--listen",
                             listen, "--jobs_db", jobs_db, "--admin_listen", "127.0.0.1:0"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    auto line = server_->WaitForLine("onsync-server listening on", kStartTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    server_port_ = PortFromReadyLine(*line);
    ASSERT_GT(server_port_, 0) << *line;
    line = server_->WaitForLine("onsync-server admin listening on", kStartTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    admin_port_ = PortFromReadyLine(*line);
    ASSERT_GT(admin_port_, 0) << *line;
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

  // Runs scripts/grpc-reflect (Debian's python3-grpcio, a client not written here) against the
  // server; returns exit code, stdout, stderr.
  std::tuple<int, std::string, std::string> Reflect(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/python3", SourcePath("scripts/grpc-reflect"),
                                     absl::StrCat("127.0.0.1:", server_port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = ChildProcess::Start(std::move(argv));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {-1, "", ""};
    const int code = process->Wait(absl::Seconds(60)).value_or(-1);
    return {code, process->Stdout(), process->Stderr()};
  }

  std::optional<ChildProcess> server_;
  std::string jobs_db_;
  // Removed when the fixture ends.
  std::vector<std::string> temp_files_;

  ~E2eTest() override {
    for (const std::string& path : temp_files_) std::remove(path.c_str());
  }
  std::optional<ChildProcess> gateway_;
  int server_port_ = 0;
  int admin_port_ = 0;  // the server's admin listener (GET /metrics)
  int gateway_port_ = 0;
};

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_E2E_E2E_FIXTURE_H_
