// The base of the server's in-process tests against the sandbox: an in-process sandbox on
// loopback, secret files served by a FakeSecretSource, and onsync's Server started with the
// example profiles (deploy/examples/business-app.yaml) connected to the sandbox and an in-memory
// job store, plus a SyncService stub.
//
// Thread safety: used from the test's thread.
#ifndef ONSYNC_TESTS_SERVER_SERVICE_SANDBOX_SERVER_TEST_BASE_H_
#define ONSYNC_TESTS_SERVER_SERVICE_SANDBOX_SERVER_TEST_BASE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/config/config_loader.h"
#include "server/service/server.h"
#include "tests/sandbox/sandbox.h"
#include "tests/server/config/fake_secret_source.h"
#include "tests/support/process.h"

namespace onsync::server {

class SandboxServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sandbox = sandbox::Sandbox::Start({});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    secrets_.files["/secrets/sn"] = "sandbox";
    secrets_.files["/secrets/os"] = "sandbox-key";
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
  }

  // Starts the server (call with ASSERT_NO_FATAL_FAILURE): the example profiles plus
  // `extra_profiles` (YAML lines added under `profiles:`), connected to the sandbox, with
  // `server_yaml` appended (e.g. a `server:` section). `options` gives the rest (admin listener,
  // metrics registry); listen, config, secrets and the in-memory job store are set here.
  void StartServerWith(const std::string& server_yaml, const std::string& extra_profiles,
                       ServerOptions options) {
    auto example = config::ReadFileToString(
        onsync::testing::SourcePath("deploy/examples/business-app.yaml"), 1 << 20);
    ASSERT_TRUE(example.ok()) << example.status();
    std::string text = example->substr(example->find("profiles:"));
    text.insert(std::string_view("profiles:\n").size(), extra_profiles);
    absl::StrAppend(&text, "\nservicenow:\n  instance_url: ", sandbox_->servicenow_url(),
                    "\n  auth: {basic: {username: admin, password_file: /secrets/sn}}\n",
                    "onspring: {base_url: \"", sandbox_->onspring_url(),
                    "\", api_key_file: /secrets/os}\n", server_yaml);
    auto config = config::ParseConfigYaml(text, secrets_);
    ASSERT_TRUE(config.ok()) << config.status();
    options.listen = "127.0.0.1:0";
    options.config = std::make_shared<v1::Config>(*std::move(config));
    options.secrets = &secrets_;
    options.jobs_db_path = ":memory:";
    auto server = Server::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::SyncService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->port()), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  onsync::testing::FakeSecretSource secrets_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::SyncService::Stub> stub_;
};

}  // namespace onsync::server

#endif  // ONSYNC_TESTS_SERVER_SERVICE_SANDBOX_SERVER_TEST_BASE_H_
