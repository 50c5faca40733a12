// gRPC credentials from TLS files (common/tls.h): the server's (TLS, or mTLS verifying client
// certificates against a CA) and the client channel's (server verified against a CA or the system
// roots, optionally presenting a client certificate).
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_GRPC_TLS_H_
#define ONSYNC_COMMON_GRPC_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/tls.h"

namespace onsync::tls {

// Client certificates: with require_client_cert, requested and verified, and a client without one
// is refused during the handshake; with only ca_file, requested and verified when sent; without
// ca_file, not requested. Errors: those of LoadTlsPem.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files, std::string_view what);

// Also sets the target name override on `args` when server_name_override is set. Errors: those of
// LoadTlsPem.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    const TlsFiles& files, std::string_view what, grpc::ChannelArguments& args);

}  // namespace onsync::tls

#endif  // ONSYNC_COMMON_GRPC_TLS_H_
