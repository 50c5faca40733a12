// A config's TlsConfig (config.proto) as the files common/tls.h checks and serves.
//
// Thread safety: pure function.
#ifndef ONSYNC_SERVER_CONFIG_TLS_FILES_H_
#define ONSYNC_SERVER_CONFIG_TLS_FILES_H_

#include "common/tls.h"
#include "onsync/v1/config.pb.h"

namespace onsync::config {

inline tls::TlsFiles TlsFilesFrom(const v1::TlsConfig& config) {
  return tls::TlsFiles{.cert_file = config.cert_file(),
                       .key_file = config.key_file(),
                       .ca_file = config.ca_file(),
                       .require_client_cert = config.require_client_cert(),
                       .server_name_override = config.server_name_override()};
}

}  // namespace onsync::config

#endif  // ONSYNC_SERVER_CONFIG_TLS_FILES_H_
