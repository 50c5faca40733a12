// What the two routes that run a sync (`POST /sync` and `POST /v1/outcomes/{profile}`) share:
// reading a JSON object body, the one `SyncRecord` call, and the rendering of its result (JSON
// text of Struct values, the `Onsync-Warnings` header).
//
// SyncCaller::Call uses the async stub: it never blocks, and the response is handed back through
// `respond` on gRPC's callback threads. The context, request and response live on the heap until
// the completion callback runs.
//
// Thread safety: the free functions are pure; SyncCaller::Call may be called concurrently from any
// thread.
#ifndef ONSYNC_GATEWAY_ROUTES_SYNC_CALL_H_
#define ONSYNC_GATEWAY_ROUTES_SYNC_CALL_H_

#include <grpcpp/channel.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "gateway/routes/call_context.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/struct.pb.h"
#include "onsync/v1/job.pb.h"
#include "onsync/v1/sync_service.grpc.pb.h"

namespace onsync::gateway {

// The response header that lists a sync's warnings.
inline constexpr char kWarningsHeader[] = "Onsync-Warnings";

// JSON text of a Struct value: null (also for an unset value and for NaN or infinity), true,
// false, strings quoted and escaped, numbers in their shortest round-trip form with integral
// values written without decimal point or exponent (`12`, `-3`), lists in order and objects with
// their keys sorted.
std::string ValueToJson(const google::protobuf::Value& value);

// JSON text of a Struct: an object with its keys sorted, values as ValueToJson writes them.
std::string StructToJson(const google::protobuf::Struct& object);

// The value of the `Onsync-Warnings` header: `CODE:field` entries (`CODE` alone when the field is
// empty) joined by ", ", control characters removed; empty when there are no warnings.
std::string WarningsHeaderValue(
    const google::protobuf::RepeatedPtrField<onsync::v1::Warning>& warnings);

// Reads the body of a request to a sync route into `body`: the Content-Type must be absent or
// application/json (else 415) and the body a JSON object (else 400, INVALID_ARGUMENT). Returns
// nullopt on success, otherwise the error response to send.
std::optional<http::Response> ReadJsonObjectBody(const http::Request& request,
                                                 google::protobuf::Struct& body);

// Builds the body of the 200 response (application/json) from a successful sync's result. An
// error is answered as 500 INTERNAL.
using RenderSyncResult = absl::StatusOr<std::string> (*)(const onsync::v1::SyncResult& result);

class SyncCaller final {
 public:
  SyncCaller(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines);

  // Calls SyncRecord with `sync_request` under the deadline and metadata that ConfigureCallContext
  // takes from `http_request`, and answers through `respond`: 200 with `render(result)` and the
  // warnings header, or the call's gRPC status through ErrorResponse. A malformed `grpc-timeout`
  // is answered 400 without a call.
  void Call(const http::Request& http_request, onsync::v1::SyncRecordRequest sync_request,
            RenderSyncResult render, http::Respond respond) const;

 private:
  const RpcDeadlines deadlines_;
  // The stub holds no per-call state; its async() accessor is merely not const.
  const std::unique_ptr<onsync::v1::SyncService::Stub> stub_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_SYNC_CALL_H_
