// TLS material for tests, made at test time with the `openssl` command (Debian's openssl package)
// in a fresh temporary folder, removed when the TestPki is destroyed: a CA, a server certificate
// for localhost / 127.0.0.1 and a client certificate signed by it, plus a second, unrelated CA
// with a client certificate of its own (to show that only the configured CA is trusted).
// EC P-256 keys, valid for two days. And a small HTTPS client (libcurl) that can present a client
// certificate, for the tests of onsync's HTTPS listener.
//
// Thread safety: a TestPki is immutable once made; HttpsRequest is thread-safe.
#ifndef ONSYNC_TESTS_SUPPORT_TEST_PKI_H_
#define ONSYNC_TESTS_SUPPORT_TEST_PKI_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::testing {

class TestPki {
 public:
  // Errors: INTERNAL with the failing command when openssl fails.
  static absl::StatusOr<TestPki> Create();

  TestPki(TestPki&& other) noexcept;
  TestPki& operator=(TestPki&&) = delete;
  TestPki(const TestPki&) = delete;
  ~TestPki();

  // Paths of PEM files.
  std::string ca_cert() const { return dir_ + "/ca.pem"; }
  std::string server_cert() const { return dir_ + "/server.pem"; }
  std::string server_key() const { return dir_ + "/server.key"; }
  std::string client_cert() const { return dir_ + "/client.pem"; }
  std::string client_key() const { return dir_ + "/client.key"; }
  std::string other_ca_cert() const { return dir_ + "/other-ca.pem"; }
  std::string other_client_cert() const { return dir_ + "/other-client.pem"; }
  std::string other_client_key() const { return dir_ + "/other-client.key"; }
  // Writes `text` to a new file in the folder and returns its path.
  std::string WriteFile(const std::string& name, const std::string& text) const;

 private:
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;  // empty once moved from
};

struct HttpsRequestOptions {
  std::string url;  // https://127.0.0.1:<port>/path (or http:// for a plaintext attempt)
  std::string method = "GET";
  std::string body = {};
  std::vector<std::string> headers = {};  // "Name: value"
  std::string ca_file = {};               // empty: the system's roots
  std::string cert_file = {};             // client certificate (with key_file), or none
  std::string key_file = {};
  absl::Duration timeout = absl::Seconds(10);
};

struct HttpsResult {
  long status = 0;
  std::string body;
};

// One request with its own connection. Errors: UNAVAILABLE with libcurl's message when the
// connection or the TLS handshake fails (e.g. "SSL certificate problem: ...").
absl::StatusOr<HttpsResult> HttpsRequest(const HttpsRequestOptions& options);

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_SUPPORT_TEST_PKI_H_
