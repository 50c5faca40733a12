// CurlTransport over TLS: verification is on, an untrusted certificate is refused, and a
// configured CA file makes the same server trusted. The TLS server is `openssl s_server` with a
// certificate generated at test time.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "clients/http/curl_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace onsync::clients {
namespace {

// A loopback port that was free a moment ago (s_server cannot report a port it picked).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

absl::StatusOr<HttpResponse> Get(CurlTransport& transport, const std::string& url) {
  absl::Notification done;
  absl::StatusOr<HttpResponse> result = absl::UnknownError("no result");
  HttpRequest request;
  request.url = url;
  request.deadline = absl::Now() + absl::Seconds(10);
  transport.Send(std::move(request), [&](absl::StatusOr<HttpResponse> response) {
    result = std::move(response);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

class CurlTransportTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/onsync-tls-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::string generate =
        absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 ",
                     "-addext subjectAltName=IP:127.0.0.1 -keyout ", dir_, "/key.pem -out ", dir_,
                     "/cert.pem 2>/dev/null");
    ASSERT_EQ(std::system(generate.c_str()), 0) << generate;
    port_ = FreePort();
    auto server = testing::ChildProcess::Start(
        {"/usr/bin/openssl", "s_server", "-accept", absl::StrCat("127.0.0.1:", port_), "-cert",
         dir_ + "/cert.pem", "-key", dir_ + "/key.pem", "-www", "-quiet"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
    // s_server prints nothing when quiet; wait until it accepts connections.
    for (int i = 0; i < 200; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port_);
      const bool up = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      close(fd);
      if (up) return;
      absl::SleepFor(absl::Milliseconds(20));
    }
    FAIL() << "openssl s_server did not start: " << server_->Stderr();
  }

  void TearDown() override {
    server_.reset();
    std::system(absl::StrCat("rm -rf ", dir_).c_str());
  }

  std::string Url() const { return absl::StrCat("https://127.0.0.1:", port_, "/"); }

  std::string dir_;
  int port_ = 0;
  std::optional<testing::ChildProcess> server_;
};

TEST_F(CurlTransportTlsTest, UntrustedCertificateIsRefused) {
  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok()) << transport.status();
  const auto response = Get(**transport, Url());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable) << response.status();
  EXPECT_THAT(std::string(response.status().message()), ::testing::HasSubstr("certificate"));
}

TEST_F(CurlTransportTlsTest, ConfiguredCaFileIsTrusted) {
  CurlTransportOptions options;
  options.ca_file = dir_ + "/cert.pem";
  auto transport = CurlTransport::Create(options);
  ASSERT_TRUE(transport.ok()) << transport.status();
  const auto response = Get(**transport, Url());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

}  // namespace
}  // namespace onsync::clients
