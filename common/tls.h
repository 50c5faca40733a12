// TLS material for onsync's listeners (the gateway's HTTPS, the gRPC server) and for the gateway's
// gRPC client: the PEM files a config names, read and checked once at start so that a wrong path,
// a key that does not match its certificate or a file that is not PEM is reported with the config
// key that named it, instead of a handshake failure later. Contents never appear in messages.
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_TLS_H_
#define ONSYNC_COMMON_TLS_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace onsync::tls {

// The files of a TlsConfig (config.proto). All paths are PEM files.
struct TlsFiles {
  // Listener: the certificate chain it presents (leaf first) and its key; required. Client: the
  // client certificate and key for mTLS; both or neither.
  std::string cert_file = {};
  std::string key_file = {};
  // Listener: the CA that client certificates must chain to (empty: clients are not asked for
  // one). Client: the CA that the server's certificate must chain to (empty: the system's roots).
  std::string ca_file = {};
  // Listener: refuse clients without a valid certificate (needs ca_file).
  bool require_client_cert = false;
  // Client: the name expected in the server's certificate when it is not the target's host.
  std::string server_name_override = {};
};

// The checked contents of a TlsFiles.
struct TlsPem {
  std::string cert_chain;   // empty when no cert_file
  std::string private_key;  // empty when no key_file
  std::string root_certs;   // empty when no ca_file
};

// Reads the files and checks them: the chain holds at least one certificate, the key is a private
// key matching the chain's first certificate, the CA file holds at least one certificate;
// `for_listener` also requires cert_file and key_file, and ca_file when require_client_cert.
// Errors: INVALID_ARGUMENT "<what>.<field>: <reason>" (e.g. "gateway.tls.key_file: does not match
// cert_file"), NOT_FOUND / PERMISSION_DENIED when a file cannot be read.
absl::StatusOr<TlsPem> LoadTlsPem(const TlsFiles& files, std::string_view what, bool for_listener);

}  // namespace onsync::tls

#endif  // ONSYNC_COMMON_TLS_H_
