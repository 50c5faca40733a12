// `POST /sync`: the PoC's route, reproduced exactly, translated into one `SyncRecord` call with an
// inline profile and the caller's connections.
//
// Request: headers `Authorization` (forwarded to ServiceNow as is) and `x-apikey` (the Onspring
// API key), both required and non-blank (else 401 with `WWW-Authenticate`, checked before the
// body); Content-Type absent or application/json (else 415); a JSON object body with the PoC's
// fields (see PocSyncRequest; any violation is 400 naming the field). Unknown keys are ignored.
// Response 200: the PoC's flat object (see PocResponseBody), warnings in `Onsync-Warnings`; a
// failed call maps its gRPC status through ErrorResponse (e.g. 403 for a ServiceNow host the
// server does not allow, 404 for an unknown application). The Gateway answers 405 for methods
// other than POST.
//
// Thread safety: the free functions are pure; Handle may be called concurrently from any thread
// and never blocks (see SyncCaller).
#ifndef ONSYNC_GATEWAY_ROUTES_SYNC_ROUTE_H_
#define ONSYNC_GATEWAY_ROUTES_SYNC_ROUTE_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "gateway/routes/call_context.h"
#include "gateway/routes/sync_call.h"
#include "google/protobuf/struct.pb.h"
#include "onsync/v1/sync_service.pb.h"

namespace onsync::gateway {

inline constexpr std::string_view kSyncPath = "/sync";

// Validates the PoC's body and translates it into a SyncRecordRequest: an inline RESPOND profile
// of `cmdb_ci_business_app` keyed by `name` with the PoC's nine output fields (the three user
// references matched by full name and created when missing, the regulation types split on `,`,
// joined with `|` and skipped when missing), trigger key `appName`, mode RESPOND and the caller's
// connections (`serviceNowBaseUrl`, `authorization`, `api_key`).
//
// Required, checked in this order (the first violation is reported): `serviceNowBaseUrl` (an
// absolute http:// or https:// URL with a host and no user info), `appName` (a non-empty string),
// the ids `onspringUserAppId`, `onspringUserFirstNameFieldId`, `onspringUserLastNameFieldId`,
// `onspringUserUsernameFieldId`, `onspringUserEmailFieldId`, `onspringUserFullNameFieldId`,
// `onspringUserStatusFieldId`, `onspringUserTierFieldId`, `onspringRegTypeAppId`,
// `onspringRegTypeIdFieldId` (integers from 1 to 2147483647), `onspringUserStatusValue` and
// `onspringUserTierValue` (non-empty strings without `{` or `}`: they are literal template
// text). Then the six field ids a created user is written with must be distinct.
// Errors: INVALID_ARGUMENT whose message starts with the field's name, e.g.
// `onspringUserAppId: must be an integer >= 1`.
absl::StatusOr<onsync::v1::SyncRecordRequest> PocSyncRequest(const google::protobuf::Struct& body,
                                                             std::string_view authorization,
                                                             std::string_view api_key);

// The PoC's 200 body: `appName`, `shortName`, `description`, `installType`, `cloudModel`,
// `appOwner`, `itOwner`, `l3`, `regulatory` in this order, each taken from `values` and written
// by ValueToJson; a key missing from `values` is null.
std::string PocResponseBody(const google::protobuf::Struct& values);

class SyncRoute final {
 public:
  SyncRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines);

  bool Matches(std::string_view path) const { return path == kSyncPath; }

  // Expects a POST to kSyncPath.
  void Handle(http::Request request, http::Respond respond) const;

 private:
  const SyncCaller caller_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_SYNC_ROUTE_H_
