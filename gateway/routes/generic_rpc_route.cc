#include "gateway/routes/generic_rpc_route.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_grpc.h"
#include "common/string_view.h"
#include "gateway/routes/error_response.h"
#include "gateway/routes/proto_json.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// Everything one call needs until its completion callback runs.
struct PendingCall {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::unique_ptr<Message> response_message;
  http::Respond respond;
};

http::Response JsonOk(std::string body) {
  http::Response response;
  response.body = std::move(body);
  return response;
}

void Complete(PendingCall& call, const grpc::Status& status) {
  if (!status.ok()) {
    std::move(call.respond)(ErrorResponse(FromGrpcStatus(status)));
    return;
  }
  grpc::ProtoBufferReader reader(&call.response);
  if (!call.response_message->ParseFromZeroCopyStream(&reader)) {
    std::move(call.respond)(
        ErrorResponse(absl::InternalError("the server's response could not be decoded")));
    return;
  }
  absl::StatusOr<std::string> json = ToProto3Json(*call.response_message);
  if (!json.ok()) return std::move(call.respond)(ErrorResponse(json.status()));
  std::move(call.respond)(JsonOk(*std::move(json)));
}

}  // namespace

GenericRpcRoute::GenericRpcRoute(std::shared_ptr<grpc::Channel> channel,
                                 const google::protobuf::ServiceDescriptor& service,
                                 RpcDeadlines deadlines)
    : service_(service),
      prefix_(absl::StrCat("/", service.full_name(), "/")),
      deadlines_(deadlines),
      stub_(std::move(channel)) {}

bool GenericRpcRoute::Matches(std::string_view path) const {
  return absl::StartsWith(ToAbsl(path), prefix_);
}

void GenericRpcRoute::Handle(http::Request request, http::Respond respond) const {
  const std::string_view method_name = std::string_view(request.path).substr(prefix_.size());
  const MethodDescriptor* method = service_.FindMethodByName(std::string(method_name));
  if (method == nullptr) {
    std::move(respond)(ErrorResponse(absl::NotFoundError(
        absl::StrCat("unknown method \"", ToAbsl(method_name), "\" of ", service_.full_name()))));
    return;
  }
  if (request.method != "POST") {
    http::Response response =
        ErrorResponse(405, absl::StatusCode::kUnimplemented,
                      absl::StrCat(request.method, " not allowed on ", request.path, "; use POST"));
    response.headers.emplace_back("Allow", "POST");
    std::move(respond)(std::move(response));
    return;
  }
  if (method->client_streaming() || method->server_streaming()) {
    std::move(respond)(ErrorResponse(absl::UnimplementedError(
        absl::StrCat(method->full_name(), " is a streaming method; call it over gRPC"))));
    return;
  }
  const std::optional<std::string_view> content_type = request.Header("content-type");
  if (!request.body.empty() && !(content_type && IsJsonContentType(*content_type))) {
    std::move(respond)(ErrorResponse(415, absl::StatusCode::kInvalidArgument,
                                     "Content-Type must be application/json"));
    return;
  }

  auto call = std::make_shared<PendingCall>();
  if (const absl::Status configured = ConfigureCallContext(request, deadlines_, call->context);
      !configured.ok()) {
    std::move(respond)(ErrorResponse(configured));
    return;
  }

  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type());
  std::unique_ptr<Message> input(prototype->New());
  const std::string_view body = request.body.empty() ? std::string_view("{}") : request.body;
  const auto parsed = google::protobuf::util::JsonStringToMessage(body, input.get());
  if (!parsed.ok()) {
    std::move(respond)(ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
        "invalid ", method->input_type()->full_name(), " JSON: ", parsed.message().as_string()))));
    return;
  }

  call->respond = std::move(respond);
  call->response_message.reset(google::protobuf::MessageFactory::generated_factory()
                                   ->GetPrototype(method->output_type())
                                   ->New());
  const std::string serialized = input->SerializeAsString();
  grpc::Slice slice(serialized);
  call->request = grpc::ByteBuffer(&slice, 1);
  stub_.UnaryCall(&call->context, absl::StrCat(prefix_, method->name()), grpc::StubOptions(),
                  &call->request, &call->response,
                  [call](grpc::Status status) { Complete(*call, status); });
}

}  // namespace onsync::gateway
