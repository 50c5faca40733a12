// The generic JSON route: `POST /<package.Service>/<Method>` with a proto3 JSON body calls that
// unary method on the server and answers with the proto3 JSON response (fields in lowerCamel,
// defaults printed). Driven by descriptors, so every unary method works without per-method code.
//
// Errors: unknown method 404, method other than POST 405, server-streaming method 501, body
// that is not JSON by Content-Type 415, malformed JSON or unknown fields 400, malformed
// `grpc-timeout` 400; a failed call maps its gRPC status through ErrorResponse.
//
// Deadline and metadata: ConfigureCallContext (call_context.h).
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

#include "common/http_server.h"
#include "gateway/routes/call_context.h"
#include "google/protobuf/descriptor.h"

namespace onsync::gateway {

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
