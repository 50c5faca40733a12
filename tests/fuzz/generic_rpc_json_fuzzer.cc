// Fuzzes the generic JSON route (`POST /onsync.v1.SyncService/<Method>`, GenericRpcRoute): the
// route's JSON -> request message step (JsonStringToMessage into the method's input type, found
// through the service descriptor and the generated factory, exactly as the route does it) and the
// gateway's rendering of messages (ToProto3Json). Input: `<Method>\n<JSON body>`; without a known
// method name on the first line, the first byte picks the method and the whole input is the body.
//
// Invariants: no crash or undefined behaviour; a refused body gets a 400 whose body is JSON; an
// accepted request survives the wire round trip (what the gateway sends the server); ToProto3Json
// never fails for a message of our protos (the route would answer 500) and its output parses back
// to an equal message; the same holds for the body read as the method's response type.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/routes/error_response.h"
#include "gateway/routes/proto_json.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "onsync/v1/sync_service.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::util::MessageDifferencer;
using onsync::fuzz::Check;

std::unique_ptr<Message> NewMessage(const Descriptor* type) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

// Parses `body` as `type` like the route; on success checks the wire and JSON round trips.
void RoundTrip(const Descriptor* type, std::string_view body, bool is_request) {
  std::unique_ptr<Message> message = NewMessage(type);
  const auto parsed = google::protobuf::util::JsonStringToMessage(body, message.get());
  if (!parsed.ok()) {
    if (is_request) {
      const onsync::http::Response error =
          onsync::gateway::ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
              "invalid ", type->full_name(), " JSON: ", parsed.message().as_string())));
      Check(error.status == 400, "a malformed body is answered 400");
      Check(onsync::fuzz::IsJson(error.body), "the error body is JSON", error.body);
    }
    return;
  }
  std::unique_ptr<Message> received = NewMessage(type);
  Check(received->ParseFromString(message->SerializeAsString()), "the message parses from wire");
  Check(MessageDifferencer::Equals(*message, *received), "wire round trip", message->DebugString());

  absl::StatusOr<std::string> json = onsync::gateway::ToProto3Json(*received);
  Check(json.ok(), "ToProto3Json never fails for our messages", json.status().ToString());
  std::unique_ptr<Message> back = NewMessage(type);
  const auto reparsed = google::protobuf::util::JsonStringToMessage(*json, back.get());
  Check(reparsed.ok(), "ToProto3Json output parses", *json);
  Check(MessageDifferencer::Equals(*received, *back), "proto3 JSON round trip", *json);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const google::protobuf::ServiceDescriptor* const service =
      onsync::v1::SyncRecordRequest::descriptor()->file()->FindServiceByName("SyncService");
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const MethodDescriptor* method = nullptr;
  std::string_view body = input;
  if (const size_t newline = input.find('\n'); newline != std::string_view::npos) {
    method = service->FindMethodByName(std::string(input.substr(0, newline)));
    if (method != nullptr) body = input.substr(newline + 1);
  }
  if (method == nullptr) {
    if (size == 0) return 0;
    method = service->method(data[0] % service->method_count());
  }
  // The route answers 501 for streaming methods before it reads the body.
  if (method->client_streaming() || method->server_streaming()) return 0;
  // The route's reading of an empty body.
  if (body.empty()) body = "{}";

  RoundTrip(method->input_type(), body, /*is_request=*/true);
  RoundTrip(method->output_type(), body, /*is_request=*/false);
  return 0;
}
