#include "common/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"

namespace onsync::tls {
namespace {

// A PEM bundle larger than this is not a certificate chain or a key.
constexpr size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

absl::Status Invalid(std::string_view key, std::string_view reason) {
  ERR_clear_error();  // OpenSSL's queue is per thread: leave nothing for the next caller
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(key), ": ", ToAbsl(reason)));
}

absl::StatusOr<std::string> ReadPemFile(const std::string& path, std::string_view key) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) {
    const int error = errno;
    const absl::StatusCode code = error == ENOENT   ? absl::StatusCode::kNotFound
                                  : error == EACCES ? absl::StatusCode::kPermissionDenied
                                                    : absl::StatusCode::kInvalidArgument;
    return absl::Status(
        code, absl::StrCat(ToAbsl(key), ": cannot read ", path, ": ", std::strerror(error)));
  }
  std::string text;
  char chunk[16384];
  size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) {
    text.append(chunk, n);
    if (text.size() > kMaxPemBytes) return Invalid(key, "larger than 1 MiB: not a PEM file");
  }
  if (std::ferror(file.get())) return Invalid(key, absl::StrCat("cannot read ", path));
  return text;
}

BioPtr MemoryBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// The certificates of a PEM bundle, in order; empty when there are none.
std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (bio != nullptr) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the bundle is reported as an error
  return certs;
}

// Never prompts for a passphrase (OpenSSL's default callback reads the terminal).
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

absl::StatusOr<TlsPem> LoadTlsPem(const TlsFiles& files, std::string_view what, bool for_listener) {
  const std::string cert_key = absl::StrCat(ToAbsl(what), ".cert_file");
  const std::string key_key = absl::StrCat(ToAbsl(what), ".key_file");
  const std::string ca_key = absl::StrCat(ToAbsl(what), ".ca_file");
  if (for_listener && files.cert_file.empty()) return Invalid(cert_key, "required");
  if (for_listener && files.key_file.empty()) return Invalid(key_key, "required");
  if (files.cert_file.empty() != files.key_file.empty()) {
    return Invalid(files.cert_file.empty() ? cert_key : key_key,
                   "cert_file and key_file go together");
  }
  if (files.require_client_cert && files.ca_file.empty()) {
    return Invalid(ca_key, "required to verify client certificates (require_client_cert)");
  }

  TlsPem pem;
  if (!files.cert_file.empty()) {
    absl::StatusOr<std::string> chain = ReadPemFile(files.cert_file, cert_key);
    if (!chain.ok()) return chain.status();
    const std::vector<X509Ptr> certs = ReadCertificates(*chain);
    if (certs.empty()) return Invalid(cert_key, "holds no PEM certificate");
    absl::StatusOr<std::string> key = ReadPemFile(files.key_file, key_key);
    if (!key.ok()) return key.status();
    BioPtr bio = MemoryBio(*key);
    PkeyPtr private_key(bio == nullptr
                            ? nullptr
                            : PEM_read_bio_PrivateKey(bio.get(), nullptr, &NoPassphrase, nullptr));
    if (private_key == nullptr) {
      return Invalid(key_key, "holds no PEM private key (encrypted keys are not supported)");
    }
    if (X509_check_private_key(certs.front().get(), private_key.get()) != 1) {
      return Invalid(key_key, "does not match the first certificate of cert_file");
    }
    pem.cert_chain = *std::move(chain);
    pem.private_key = *std::move(key);
  }
  if (!files.ca_file.empty()) {
    absl::StatusOr<std::string> roots = ReadPemFile(files.ca_file, ca_key);
    if (!roots.ok()) return roots.status();
    if (ReadCertificates(*roots).empty()) return Invalid(ca_key, "holds no PEM certificate");
    pem.root_certs = *std::move(roots);
  }
  return pem;
}

}  // namespace onsync::tls
