// onsync-server over TLS (`server.tls`): a sync over a TLS channel that trusts the configured CA;
// plaintext clients and clients that trust another CA are refused; with `require_client_cert`
// (mTLS) only clients presenting a certificate from `ca_file` get in. The client side is
// tls::GrpcChannelCredentials, which the gateway dials with.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_tls.h"
#include "gmock/gmock.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "tests/server/service/sandbox_server_test_base.h"
#include "tests/support/test_pki.h"

namespace onsync::server {
namespace {

using ::testing::HasSubstr;

class ServerTlsTest : public SandboxServerTest {
 protected:
  void SetUp() override {
    SandboxServerTest::SetUp();
    auto pki = onsync::testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<onsync::testing::TestPki>(*std::move(pki));
  }

  void StartTlsServer(bool require_client_cert) {
    std::string tls =
        absl::StrCat("{cert_file: ", pki_->server_cert(), ", key_file: ", pki_->server_key());
    if (require_client_cert) {
      absl::StrAppend(&tls, ", ca_file: ", pki_->ca_cert(), ", require_client_cert: true");
    }
    StartServerWith(absl::StrCat("server: {tls: ", tls, "}}\n"), "", ServerOptions{});
  }

  // A sync of an existing record over a channel made with `credentials`.
  grpc::Status SyncOver(std::shared_ptr<grpc::ChannelCredentials> credentials,
                        const grpc::ChannelArguments& args = {}) {
    auto stub = v1::SyncService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", server_->port()), std::move(credentials), args));
    v1::SyncRecordRequest request;
    request.set_profile("business_app");
    request.mutable_trigger()->set_key("Payroll");
    v1::SyncRecordResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->SyncRecord(&context, request, &response);
  }

  std::shared_ptr<grpc::ChannelCredentials> Client(tls::TlsFiles files) {
    grpc::ChannelArguments ignored;
    auto credentials = tls::GrpcChannelCredentials(files, "test", ignored);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }

  std::unique_ptr<onsync::testing::TestPki> pki_;
};

TEST_F(ServerTlsTest, ASyncOverTlsSucceedsWhenTheClientTrustsTheCa) {
  ASSERT_NO_FATAL_FAILURE(StartTlsServer(/*require_client_cert=*/false));
  const grpc::Status status = SyncOver(Client({.ca_file = pki_->ca_cert()}));
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
}

TEST_F(ServerTlsTest, ServerNameOverrideIsTheNameCheckedInTheCertificate) {
  ASSERT_NO_FATAL_FAILURE(StartTlsServer(/*require_client_cert=*/false));
  grpc::ChannelArguments args;
  auto credentials = tls::GrpcChannelCredentials(
      {.ca_file = pki_->ca_cert(), .server_name_override = "localhost"}, "test", args);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  const grpc::Status status = SyncOver(*credentials, args);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // A name the certificate does not carry fails, although the dialed address is in it.
  grpc::ChannelArguments wrong_args;
  auto wrong = tls::GrpcChannelCredentials(
      {.ca_file = pki_->ca_cert(), .server_name_override = "elsewhere.example"}, "test",
      wrong_args);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(SyncOver(*wrong, wrong_args).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServerTlsTest, PlaintextAndUntrustingClientsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartTlsServer(/*require_client_cert=*/false));
  EXPECT_EQ(SyncOver(grpc::InsecureChannelCredentials()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(SyncOver(Client({.ca_file = pki_->other_ca_cert()})).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(sandbox_->request_log().Entries().size(), 0u) << "nothing reached the upstreams";
}

TEST_F(ServerTlsTest, MutualTlsAdmitsOnlyClientCertificatesFromTheConfiguredCa) {
  ASSERT_NO_FATAL_FAILURE(StartTlsServer(/*require_client_cert=*/true));
  EXPECT_EQ(SyncOver(Client({.ca_file = pki_->ca_cert()})).error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "no client certificate";
  EXPECT_EQ(SyncOver(Client({.cert_file = pki_->other_client_cert(),
                             .key_file = pki_->other_client_key(),
                             .ca_file = pki_->ca_cert()}))
                .error_code(),
            grpc::StatusCode::UNAVAILABLE)
      << "a certificate from another CA";
  const grpc::Status status = SyncOver(Client({.cert_file = pki_->client_cert(),
                                               .key_file = pki_->client_key(),
                                               .ca_file = pki_->ca_cert()}));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTlsTest, CredentialsFromFilesThatDoNotCheckOutAreRefusedNamingTheKey) {
  auto server = tls::GrpcServerCredentials(
      {.cert_file = pki_->server_cert(), .key_file = pki_->client_key()}, "server.tls");
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("server.tls.key_file: does not match"));

  grpc::ChannelArguments args;
  auto client =
      tls::GrpcChannelCredentials({.ca_file = "/nonexistent/ca.pem"}, "gateway.server_tls", args);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(client.status().message(), HasSubstr("gateway.server_tls.ca_file"));

  client =
      tls::GrpcChannelCredentials({.cert_file = pki_->client_cert()}, "gateway.server_tls", args);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("gateway.server_tls.key_file"));
}

}  // namespace
}  // namespace onsync::server
