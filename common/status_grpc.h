// Conversions between absl::Status and grpc::Status.
//
// The server converts once, at its edge (ToGrpcStatus when finishing an RPC); the gateway
// converts a call's grpc::Status back with FromGrpcStatus before mapping it to HTTP. Both
// status types share google.rpc.Code numbering, so codes cross unchanged. A retry hint
// (common/retry_after.h) crosses as a google.rpc.RetryInfo in the call's google.rpc.Status
// details (the `grpc-status-details-bin` trailer), which grpcurl and other gRPC clients read; other
// absl payloads stay inside the process.
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_STATUS_GRPC_H_
#define ONSYNC_COMMON_STATUS_GRPC_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace onsync {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace onsync

#endif  // ONSYNC_COMMON_STATUS_GRPC_H_
