#include "gateway/routes/proto_json.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace onsync::gateway {

absl::StatusOr<std::string> ToProto3Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!printed.ok()) {
    return absl::InternalError(
        absl::StrCat(message.GetTypeName(), " to JSON: ", printed.message().as_string()));
  }
  return json;
}

}  // namespace onsync::gateway
