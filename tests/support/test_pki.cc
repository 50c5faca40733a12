#include "tests/support/test_pki.h"

#include <curl/curl.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace onsync::testing {
namespace {

absl::Status Run(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  if (std::system(quiet.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("test PKI: failed: ", command));
  }
  return absl::OkStatus();
}

constexpr char kKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

absl::Status MakeCa(const std::string& dir, const std::string& name) {
  return Run(absl::StrCat("openssl req -x509 ", kKey, " -days 2 -subj /CN=onsync-test-", name,
                          " -addext basicConstraints=critical,CA:TRUE",
                          " -addext keyUsage=critical,keyCertSign,cRLSign -keyout ", dir, "/", name,
                          ".key -out ", dir, "/", name, ".pem"));
}

// A leaf certificate `name`.pem / `name`.key for `subject`, signed by the CA `ca`.
absl::Status MakeLeaf(const std::string& dir, const std::string& ca, const std::string& name,
                      const std::string& subject) {
  const std::string base = absl::StrCat(dir, "/", name);
  if (absl::Status made = Run(absl::StrCat(
          "openssl req -new ", kKey, " -subj /CN=", subject,
          " -addext subjectAltName=DNS:localhost,IP:127.0.0.1",
          " -addext extendedKeyUsage=serverAuth,clientAuth -addext basicConstraints=CA:FALSE",
          " -keyout ", base, ".key -out ", base, ".csr"));
      !made.ok()) {
    return made;
  }
  return Run(absl::StrCat("openssl x509 -req -in ", base, ".csr -CA ", dir, "/", ca, ".pem -CAkey ",
                          dir, "/", ca, ".key -CAcreateserial -days 2 -copy_extensions copyall",
                          " -out ", base, ".pem"));
}

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

absl::StatusOr<TestPki> TestPki::Create() {
  char dir[] = "/tmp/onsync-pki-XXXXXX";
  if (mkdtemp(dir) == nullptr) return absl::InternalError("test PKI: mkdtemp failed");
  TestPki pki(dir);
  for (absl::Status made :
       {MakeCa(pki.dir_, "ca"), MakeLeaf(pki.dir_, "ca", "server", "localhost"),
        MakeLeaf(pki.dir_, "ca", "client", "onsync-test-client"), MakeCa(pki.dir_, "other-ca"),
        MakeLeaf(pki.dir_, "other-ca", "other-client", "intruder")}) {
    if (!made.ok()) return made;
  }
  return pki;
}

TestPki::TestPki(TestPki&& other) noexcept : dir_(std::move(other.dir_)) { other.dir_.clear(); }

TestPki::~TestPki() {
  if (dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TestPki::WriteFile(const std::string& name, const std::string& text) const {
  const std::string path = absl::StrCat(dir_, "/", name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

absl::StatusOr<HttpsResult> HttpsRequest(const HttpsRequestOptions& options) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  HttpsResult result;
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, options.url.c_str());
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, options.method.c_str());
  if (!options.body.empty() || options.method == "POST") {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, options.body.c_str());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(options.body.size()));
  }
  curl_slist* headers = nullptr;
  for (const std::string& header : options.headers) {
    headers = curl_slist_append(headers, header.c_str());
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, &curl_slist_free_all);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  if (!options.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options.ca_file.c_str());
  if (!options.cert_file.empty()) {
    curl_easy_setopt(handle, CURLOPT_SSLCERT, options.cert_file.c_str());
    curl_easy_setopt(handle, CURLOPT_SSLKEY, options.key_file.c_str());
  }
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options.timeout)));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &result.body);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(curl_easy_strerror(code), ": ", error[0] != '\0' ? error : ""));
  }
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result.status);
  return result;
}

}  // namespace onsync::testing
