// Fuzzes the webhook body -> trigger path: the JSON body an Onspring outcome POSTs to
// `/v1/outcomes/{profile}`, read by the gateway (ReadJsonObjectBody: JSON text ->
// google.protobuf.Struct), carried to the server in protobuf wire format, and given to
// engine::ExtractTrigger with the trigger paths of real profiles (flat and dotted).
//
// Invariants: no crash or undefined behaviour; a refused body gets a 400 whose body is JSON; an
// accepted Struct survives the wire round trip, and the gateway's StructToJson renders it as JSON
// that parses back to an equal Struct; an extracted trigger has a non-blank key (equal to the
// member's text when that member is a string), a record id >= 0 and at most 32 raw values.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "gateway/routes/sync_call.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/engine/trigger.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::MessageDifferencer;
using onsync::fuzz::Check;

onsync::v1::TriggerExtraction Paths(const char* key, const char* record_id) {
  onsync::v1::TriggerExtraction paths;
  paths.set_key(key);
  paths.set_record_id(record_id);
  return paths;
}

// The value at a dotted path, or nullptr (independent of the engine's lookup).
const Value* At(const Struct& body, const std::string& path) {
  const Struct* object = &body;
  const Value* value = nullptr;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (object == nullptr) return nullptr;
    auto it = object->fields().find(std::string(segment));
    if (it == object->fields().end()) return nullptr;
    value = &it->second;
    object = value->has_struct_value() ? &value->struct_value() : nullptr;
  }
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onsync::http::Request request;
  request.method = "POST";
  request.target = request.path = "/v1/outcomes/business_app";
  request.headers = {{"content-type", "application/json"}};
  request.body.assign(reinterpret_cast<const char*>(data), size);

  Struct sent;
  if (std::optional<onsync::http::Response> error =
          onsync::gateway::ReadJsonObjectBody(request, sent)) {
    Check(error->status == 400, "a refused body is answered 400");
    Check(onsync::fuzz::IsJson(error->body), "the error body is JSON", error->body);
    return 0;
  }

  // What the server receives.
  Struct body;
  Check(body.ParseFromString(sent.SerializeAsString()), "the Struct parses from the wire");
  Check(MessageDifferencer::Equals(sent, body), "the Struct survives the wire round trip");

  // The gateway's own JSON rendering of a Struct (response bodies) parses back to it.
  const std::string json = onsync::gateway::StructToJson(body);
  Struct reparsed;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &reparsed);
  Check(parsed.ok(), "StructToJson output parses", json);
  Check(MessageDifferencer::Equals(body, reparsed), "StructToJson round trip", json);

  static const onsync::v1::TriggerExtraction* const kProfiles[] = {
      // deploy/examples/business-app.yaml
      new onsync::v1::TriggerExtraction(Paths("name", "recordId")),
      // the PoC's key
      new onsync::v1::TriggerExtraction(Paths("appName", "")),
      // nested members
      new onsync::v1::TriggerExtraction(Paths("record.name", "record.id")),
      new onsync::v1::TriggerExtraction(Paths("a.b.c", "a.id")),
  };
  for (const onsync::v1::TriggerExtraction* paths : kProfiles) {
    absl::StatusOr<onsync::v1::Trigger> trigger = onsync::engine::ExtractTrigger(*paths, body);
    if (!trigger.ok()) {
      Check(trigger.status().code() == absl::StatusCode::kInvalidArgument,
            "extraction errors are INVALID_ARGUMENT", trigger.status().ToString());
      continue;
    }
    Check(!absl::StripAsciiWhitespace(trigger->key()).empty(), "the key is not blank");
    const Value* key = At(body, paths->key());
    Check(key != nullptr, "the key comes from the body");
    if (key->has_string_value()) {
      Check(trigger->key() == key->string_value(), "a string key is taken as is");
    }
    Check(trigger->record_id() >= 0, "the record id is >= 0");
    if (trigger->record_id() > 0) {
      Check(At(body, paths->record_id()) != nullptr, "a record id comes from the body");
    }
    Check(trigger->raw_values_size() <= 32, "at most 32 raw values");
    Check(!trigger->has_body(), "the trigger carries no body");
  }
  return 0;
}
