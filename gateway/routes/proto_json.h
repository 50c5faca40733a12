// The gateway's one proto3 JSON rendering of response messages: lowerCamel names, defaults
// printed (so that `written: false` and `attempts: 0` show).
//
// Thread safety: pure function.
#ifndef ONSYNC_GATEWAY_ROUTES_PROTO_JSON_H_
#define ONSYNC_GATEWAY_ROUTES_PROTO_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace onsync::gateway {

// INTERNAL when the message cannot be printed (it can always be, for messages of our protos).
absl::StatusOr<std::string> ToProto3Json(const google::protobuf::Message& message);

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_PROTO_JSON_H_
