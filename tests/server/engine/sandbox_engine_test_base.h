// The base of the engine's tests against the sandbox: an in-process sandbox on loopback, the real
// transport (libcurl behind the retry policy, with short backoffs) and clients, the example
// profile `business_app` (deploy/examples/business-app.yaml) and a SyncEngine.
//
// Thread safety: used from the test's thread; the clients and engine are thread-safe.
#ifndef ONSYNC_TESTS_SERVER_ENGINE_SANDBOX_ENGINE_TEST_BASE_H_
#define ONSYNC_TESTS_SERVER_ENGINE_SANDBOX_ENGINE_TEST_BASE_H_

#include <gtest/gtest.h>

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "clients/http/curl_transport.h"
#include "clients/http/retrying_transport.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/table_client.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "server/engine/sync_engine.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/process.h"

namespace onsync::engine {

class SandboxEngineTest : public ::testing::Test {
 protected:
  // Call with ASSERT_NO_FATAL_FAILURE.
  void StartSandbox(sandbox::SandboxOptions options = {}) {
    auto sandbox = sandbox::Sandbox::Start(std::move(options));
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    auto curl = clients::CurlTransport::Create();
    ASSERT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    clients::RetryOptions retry;
    retry.initial_backoff = absl::Milliseconds(5);
    retrying_ =
        std::make_unique<clients::RetryingTransport>(*curl_, *curl_, clients::RealClock(), retry);
    auth_ = std::make_unique<clients::servicenow::BasicAuthenticator>("admin", "sandbox");
    auto table = clients::servicenow::TableClient::Create(*retrying_, *curl_, *auth_,
                                                          sandbox_->servicenow_url());
    ASSERT_TRUE(table.ok()) << table.status();
    auto onspring = clients::onspring::OnspringClient::Create(
        *retrying_, *curl_, {.base_url = sandbox_->onspring_url(), .api_key = "sandbox-key"});
    ASSERT_TRUE(onspring.ok()) << onspring.status();
    upstreams_.servicenow = *std::move(table);
    upstreams_.onspring = *std::move(onspring);
    upstreams_.onspring_scope = "sandbox";

    auto text = config::ReadFileToString(
        onsync::testing::SourcePath("deploy/examples/business-app.yaml"), 1 << 20);
    ASSERT_TRUE(text.ok()) << text.status();
    auto config = config::ParseConfigYaml(*text, config::SystemSecretSource());
    ASSERT_TRUE(config.ok()) << config.status();
    profile_ = std::make_shared<v1::Profile>(config->profiles().at("business_app"));
    engine_ = std::make_unique<SyncEngine>(clients::RealClock(), EngineOptions{});
  }

  void TearDown() override {
    if (curl_ != nullptr) curl_->Shutdown();
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<clients::CurlTransport> curl_;
  std::unique_ptr<clients::RetryingTransport> retrying_;
  std::unique_ptr<clients::servicenow::BasicAuthenticator> auth_;
  Upstreams upstreams_;
  std::shared_ptr<v1::Profile> profile_;
  std::unique_ptr<SyncEngine> engine_;
};

}  // namespace onsync::engine

#endif  // ONSYNC_TESTS_SERVER_ENGINE_SANDBOX_ENGINE_TEST_BASE_H_
