#include "common/grpc_tls.h"

#include <utility>

namespace onsync::tls {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files, std::string_view what) {
  absl::StatusOr<TlsPem> pem = LoadTlsPem(files, what, /*for_listener=*/true);
  if (!pem.ok()) return pem.status();
  grpc_ssl_client_certificate_request_type request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  if (files.require_client_cert) {
    request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else if (!pem->root_certs.empty()) {
    request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  grpc::SslServerCredentialsOptions options(request);
  options.pem_root_certs = std::move(pem->root_certs);
  options.pem_key_cert_pairs.push_back({std::move(pem->private_key), std::move(pem->cert_chain)});
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    const TlsFiles& files, std::string_view what, grpc::ChannelArguments& args) {
  absl::StatusOr<TlsPem> pem = LoadTlsPem(files, what, /*for_listener=*/false);
  if (!pem.ok()) return pem.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = std::move(pem->root_certs);  // empty: gRPC's default roots
  options.pem_private_key = std::move(pem->private_key);
  options.pem_cert_chain = std::move(pem->cert_chain);
  if (!files.server_name_override.empty()) {
    args.SetSslTargetNameOverride(files.server_name_override);
  }
  return grpc::SslCredentials(options);
}

}  // namespace onsync::tls
