// The generic JSON route: `POST /<package.Service>/<Method>` with a proto3 JSON body calls that
// unary method on the server and answers with the proto3 JSON response (fields in lowerCamel,
// defaults printed). Driven by descriptors, so every unary method works without per-method code.
//
// Errors: unknown method 404, method other than POST 405, server-streaming method 501, body
// that is not JSON by Content-Type 415, malformed JSON or unknown fields 400, malformed
// `grpc-timeout` 400; a failed call maps its gRPC status through ErrorResponse.
//
// Deadline: the `grpc-timeout` header (gRPC wire syntax, e.g. `5S`, `200m`) clamped to
// `max_deadline`, else `default_deadline`. `x-request-id` and `traceparent` travel as metadata.
//
// Thread safety: Handle may be called concurrently from any thread; it never blocks: the call
// completes on gRPC's callback threads and the response is handed back through `respond`.
#ifndef ONSYNC_GATEWAY_ROUTES_GENERIC_RPC_ROUTE_H_
#define ONSYNC_GATEWAY_ROUTES_GENERIC_RPC_ROUTE_H_

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "google/protobuf/descriptor.h"

namespace onsync::gateway {

struct RpcDeadlines {
  absl::Duration default_deadline = absl::Seconds(25);
  absl::Duration max_deadline = absl::Seconds(120);
};

// Parses a `grpc-timeout` header value: 1 to 8 digits and a unit (H, M, S, m, u, n).
absl::StatusOr<absl::Duration> ParseGrpcTimeout(std::string_view value);

// True when the Content-Type's media type is application/json (parameters ignored).
bool IsJsonContentType(std::string_view content_type);

class GenericRpcRoute final {
 public:
  GenericRpcRoute(std::shared_ptr<grpc::Channel> channel,
                  const google::protobuf::ServiceDescriptor& service, RpcDeadlines deadlines);

  // True for paths under `/<package.Service>/`.
  bool Matches(std::string_view path) const;

  void Handle(http::Request request, http::Respond respond) const;

 private:
  const google::protobuf::ServiceDescriptor& service_;
  const std::string prefix_;
  const RpcDeadlines deadlines_;
  // GenericStub's call methods are not const, but it holds no per-call state.
  mutable grpc::GenericStub stub_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_GENERIC_RPC_ROUTE_H_
