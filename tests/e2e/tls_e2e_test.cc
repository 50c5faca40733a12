// TLS end to end with the real binaries: onsync-server serving mTLS (`server.tls` with a CA and
// required client certificates) and onsync-gateway serving HTTPS (`gateway.tls`) and dialing the
// server with its client certificate (`gateway.server_tls`), all from one config file, against
// the sandbox. Certificates are made at test time (tests/support/test_pki.h).
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/test_pki.h"

namespace onsync::testing {
namespace {

using ::testing::HasSubstr;

class TlsE2eTest : public E2eTest {
 protected:
  void SetUp() override {
    auto sandbox = sandbox::Sandbox::Start({});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    auto pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
  }

  void TearDown() override {
    for (std::optional<ChildProcess>* process : {&gateway_, &server_}) {
      if (!process->has_value()) continue;
      (*process)->Signal(SIGTERM);
      EXPECT_EQ((*process)->Wait(absl::Seconds(15)).value_or(-1), 0) << (*process)->Stderr();
    }
    for (const std::string& path : secret_files_) std::remove(path.c_str());
  }

  // The example config against the sandbox, with `server_tls` (a flow mapping, or empty) as its
  // server.tls, plus `gateway_yaml` (a gateway: section, or empty).
  std::string WriteConfig(const std::string& server_tls, const std::string& gateway_yaml) {
    std::string yaml =
        WithSandboxConnections(ReadTextFile(SourcePath("deploy/examples/business-app.yaml")),
                               sandbox_->servicenow_url(), sandbox_->onspring_url(), secret_files_);
    const size_t server = yaml.find("\nserver:\n");
    EXPECT_NE(server, std::string::npos) << "the example has no server: section";
    if (!server_tls.empty() && server != std::string::npos) {
      yaml.insert(server + std::string("\nserver:\n").size(),
                  absl::StrCat("  tls: ", server_tls, "\n"));
    }
    absl::StrAppend(&yaml, gateway_yaml);
    const std::string path = WriteTempFile(yaml);
    temp_files_.push_back(path);
    return path;
  }

  std::string MutualTlsServer() const {
    return absl::StrCat("{cert_file: ", pki_->server_cert(), ", key_file: ", pki_->server_key(),
                        ", ca_file: ", pki_->ca_cert(), ", require_client_cert: true}");
  }

  // gateway.tls plus `server_tls` (a flow mapping, or empty for none).
  std::string GatewayYaml(const std::string& server_tls) const {
    std::string yaml = absl::StrCat("gateway:\n  tls: {cert_file: ", pki_->server_cert(),
                                    ", key_file: ", pki_->server_key(), "}\n");
    if (!server_tls.empty()) absl::StrAppend(&yaml, "  server_tls: ", server_tls, "\n");
    return yaml;
  }

  std::string ClientServerTls() const {
    return absl::StrCat("{cert_file: ", pki_->client_cert(), ", key_file: ", pki_->client_key(),
                        ", ca_file: ", pki_->ca_cert(), "}");
  }

  absl::StatusOr<HttpsResult> Https(const std::string& method, const std::string& path,
                                    const std::string& body = "") {
    return HttpsRequest({.url = absl::StrCat("https://127.0.0.1:", gateway_port_, path),
                         .method = method,
                         .body = body,
                         .headers = {"Content-Type: application/json"},
                         .ca_file = pki_->ca_cert()});
  }

  // Starts a binary expected to refuse its config; returns its stderr.
  std::string StartupRefusal(std::vector<std::string> argv) {
    auto process = ChildProcess::Start(std::move(argv));
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return "";
    const absl::StatusOr<int> code = process->Wait(kStartTimeout);
    EXPECT_TRUE(code.ok()) << code.status();
    EXPECT_NE(code.value_or(0), 0);
    return process->Stderr();
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<TestPki> pki_;
  std::vector<std::string> secret_files_;
};

TEST_F(TlsE2eTest, AnOutcomeOverHttpsReachesTheServerOverMutualTls) {
  const std::string config = WriteConfig(MutualTlsServer(), GatewayYaml(ClientServerTls()));
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  ASSERT_NO_FATAL_FAILURE(StartGateway({"--config", config}));

  const absl::StatusOr<HttpsResult> ready = Https("GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 200) << ready->body;

  const absl::StatusOr<HttpsResult> synced =
      Https("POST", "/v1/outcomes/business_app", R"({"recordId": 1001, "name": "Payroll"})");
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(synced->status, 200) << synced->body;
  EXPECT_THAT(synced->body, HasSubstr(R"("appName":"Payroll")"));
  EXPECT_GE(sandbox_->CallCount(sandbox::FakeKind::kOnspring, "PUT /Records"), 1);
}

TEST_F(TlsE2eTest, AGatewayWithoutTheClientCertificateCannotReachTheServer) {
  // Trusts the server's CA but presents no certificate: the server refuses the handshake.
  const std::string config =
      WriteConfig(MutualTlsServer(), GatewayYaml(absl::StrCat("{ca_file: ", pki_->ca_cert(), "}")));
  ASSERT_NO_FATAL_FAILURE(StartServer(config));
  ASSERT_NO_FATAL_FAILURE(StartGateway({"--config", config}));

  const absl::StatusOr<HttpsResult> ready = Https("GET", "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->status, 503) << ready->body;
  const absl::StatusOr<HttpsResult> synced =
      Https("POST", "/v1/outcomes/business_app", R"({"recordId": 1001, "name": "Payroll"})");
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(synced->status, 503) << synced->body;
  EXPECT_EQ(sandbox_->request_log().Entries().size(), 0u);
}

TEST_F(TlsE2eTest, BinariesRefuseTlsFilesThatDoNotCheckOutNamingTheKey) {
  const std::string bad_server = WriteConfig(
      absl::StrCat("{cert_file: ", pki_->server_cert(), ", key_file: ", pki_->client_key(), "}"),
      "");
  EXPECT_THAT(StartupRefusal({BinaryPath("onsync-server"), "--config", bad_server, "--listen",
                              "127.0.0.1:0", "--jobs_db", ":memory:"}),
              HasSubstr("server.tls.key_file: does not match"));

  const std::string bad_gateway =
      WriteConfig("", "gateway:\n  server_tls: {ca_file: /nonexistent/ca.pem}\n");
  EXPECT_THAT(StartupRefusal({BinaryPath("onsync-gateway"), "--config", bad_gateway, "--listen",
                              "127.0.0.1:0"}),
              HasSubstr("gateway.server_tls.ca_file: cannot read /nonexistent/ca.pem"));
}

}  // namespace
}  // namespace onsync::testing
