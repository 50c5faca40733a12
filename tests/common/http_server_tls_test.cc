// The HTTP server core over TLS: it serves HTTPS with the configured certificate, verifies client
// certificates against its CA when configured, refuses files that do not check out with the
// config key that named them, and drops a client that never completes the handshake.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/http_test_client.h"
#include "tests/support/test_pki.h"

namespace onsync::http {
namespace {

using ::onsync::testing::HttpsRequest;
using ::onsync::testing::HttpsRequestOptions;
using ::onsync::testing::HttpsResult;
using ::onsync::testing::HttpTestConnection;
using ::onsync::testing::TestPki;
using ::testing::HasSubstr;

class HttpServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = std::make_unique<TestPki>(*std::move(pki));
  }

  tls::TlsFiles ServerFiles() const {
    return tls::TlsFiles{.cert_file = pki_->server_cert(), .key_file = pki_->server_key()};
  }

  absl::StatusOr<std::unique_ptr<Server>> Start(tls::TlsFiles files,
                                                absl::Duration read_timeout = absl::Seconds(10)) {
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.tls = std::move(files);
    options.tls_name = "gateway.tls";
    options.read_timeout = read_timeout;
    return Server::Start(std::move(options), [](Request request, Respond respond) {
      Response response;
      response.content_type = "text/plain";
      response.body = absl::StrCat(request.method, " ", request.target, " ", request.body);
      std::move(respond)(std::move(response));
    });
  }

  HttpsRequestOptions Get(int port, const std::string& path = "/hello") const {
    return HttpsRequestOptions{.url = absl::StrCat("https://127.0.0.1:", port, path),
                               .ca_file = pki_->ca_cert()};
  }

  std::unique_ptr<TestPki> pki_;
};

TEST_F(HttpServerTlsTest, ServesHttpsWithTheConfiguredCertificate) {
  auto server = Start(ServerFiles());
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::StatusOr<HttpsResult> got = HttpsRequest(Get((*server)->port()));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "GET /hello ");

  HttpsRequestOptions post = Get((*server)->port(), "/echo");
  post.method = "POST";
  post.body = R"({"a":1})";
  const absl::StatusOr<HttpsResult> posted = HttpsRequest(post);
  ASSERT_TRUE(posted.ok()) << posted.status();
  EXPECT_EQ(posted->body, R"(POST /echo {"a":1})");
}

TEST_F(HttpServerTlsTest, AClientThatDoesNotTrustTheCaRefusesTheServer) {
  auto server = Start(ServerFiles());
  ASSERT_TRUE(server.ok()) << server.status();
  HttpsRequestOptions other_ca = Get((*server)->port());
  other_ca.ca_file = pki_->other_ca_cert();
  const absl::StatusOr<HttpsResult> got = HttpsRequest(other_ca);
  ASSERT_FALSE(got.ok());
  EXPECT_THAT(got.status().message(), HasSubstr("certificate"));
}

TEST_F(HttpServerTlsTest, PlainHttpOnTheTlsPortGetsNoHttpAnswer) {
  auto server = Start(ServerFiles());
  ASSERT_TRUE(server.ok()) << server.status();
  auto connection = HttpTestConnection::Connect("127.0.0.1", (*server)->port());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(connection->SendRaw("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").ok());
  // The bytes are not a TLS ClientHello: the handshake fails and the connection is closed
  // without anything the client could read as an HTTP response.
  const auto response = connection->ReadResponse();
  EXPECT_FALSE(response.ok()) << response->status;

  // The server keeps serving TLS clients.
  const absl::StatusOr<HttpsResult> got = HttpsRequest(Get((*server)->port()));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
}

TEST_F(HttpServerTlsTest, AClientThatNeverCompletesTheHandshakeIsDropped) {
  auto server = Start(ServerFiles(), /*read_timeout=*/absl::Milliseconds(200));
  ASSERT_TRUE(server.ok()) << server.status();
  auto connection = HttpTestConnection::Connect("127.0.0.1", (*server)->port());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(connection->SendRaw("\x16\x03\x01").ok());  // the start of a ClientHello, no more
  EXPECT_TRUE(connection->IsClosedByPeer(absl::Seconds(10)));
}

TEST_F(HttpServerTlsTest, RequiredClientCertificatesMustChainToTheConfiguredCa) {
  tls::TlsFiles files = ServerFiles();
  files.ca_file = pki_->ca_cert();
  files.require_client_cert = true;
  auto server = Start(files);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();

  EXPECT_FALSE(HttpsRequest(Get(port)).ok()) << "no client certificate";

  HttpsRequestOptions intruder = Get(port);
  intruder.cert_file = pki_->other_client_cert();
  intruder.key_file = pki_->other_client_key();
  EXPECT_FALSE(HttpsRequest(intruder).ok()) << "a certificate from another CA";

  HttpsRequestOptions client = Get(port);
  client.cert_file = pki_->client_cert();
  client.key_file = pki_->client_key();
  const absl::StatusOr<HttpsResult> got = HttpsRequest(client);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
}

TEST_F(HttpServerTlsTest, FilesThatDoNotCheckOutAreRefusedAtStartNamingTheKey) {
  tls::TlsFiles missing = ServerFiles();
  missing.cert_file = "/nonexistent/server.pem";
  auto server = Start(missing);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(server.status().message(), HasSubstr("gateway.tls.cert_file"));

  tls::TlsFiles mismatched = ServerFiles();
  mismatched.key_file = pki_->client_key();
  server = Start(mismatched);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("gateway.tls.key_file: does not match"));

  tls::TlsFiles not_pem = ServerFiles();
  not_pem.cert_file = pki_->WriteFile("garbage.pem", "not a certificate\n");
  server = Start(not_pem);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(),
              HasSubstr("gateway.tls.cert_file: holds no PEM certificate"));

  tls::TlsFiles key_only_text = ServerFiles();
  key_only_text.key_file = pki_->server_cert();  // a certificate where the key should be
  server = Start(key_only_text);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("gateway.tls.key_file: holds no PEM"));
  // The key's contents never appear in an error.
  EXPECT_THAT(server.status().message(), ::testing::Not(HasSubstr("BEGIN")));

  tls::TlsFiles no_ca = ServerFiles();
  no_ca.require_client_cert = true;
  server = Start(no_ca);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(server.status().message(), HasSubstr("gateway.tls.ca_file: required"));
}

}  // namespace
}  // namespace onsync::http
