// `POST /v1/outcomes/{profile}`: Onspring's REST API outcome for a configured profile, translated
// into one `SyncRecord` call.
//
// Request: `{profile}` is the whole rest of the path and matches `[a-z][a-z0-9_-]{0,62}` (else 404
// without a call: this also turns away `..`, `%2e%2e` and further `/`); Content-Type absent or
// application/json (else 415); a JSON object body (else 400), sent as `trigger.body` (the server
// reads the key and record id at the profile's trigger paths); an optional query parameter
// `mode=respond|write_back|dry_run` (else 400), absent meaning the profile's mode.
// Response 200: in RESPOND mode the flat object of the result's values; in WRITE_BACK and DRY_RUN
// the whole SyncResult as proto3 JSON (defaults printed, so `"written": false` shows). Warnings
// in `Onsync-Warnings`; a failed call maps its gRPC status through ErrorResponse. The Gateway
// answers 405 for methods other than POST.
//
// Thread safety: the free functions are pure; Handle may be called concurrently from any thread
// and never blocks (see SyncCaller).
#ifndef ONSYNC_GATEWAY_ROUTES_OUTCOME_ROUTE_H_
#define ONSYNC_GATEWAY_ROUTES_OUTCOME_ROUTE_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "gateway/routes/call_context.h"
#include "gateway/routes/sync_call.h"
#include "onsync/v1/job.pb.h"

namespace onsync::gateway {

inline constexpr std::string_view kOutcomesPrefix = "/v1/outcomes/";

// True when `name` matches `[a-z][a-z0-9_-]{0,62}`, the syntax of configured profile names.
bool IsProfileName(std::string_view name);

// The `mode` parameter of a URL query (`a=b&mode=dry_run`): `respond`, `write_back` or `dry_run`;
// SYNC_MODE_UNSPECIFIED when absent. Other parameters are ignored. Errors: INVALID_ARGUMENT naming
// `mode` for any other value or a repeated parameter.
absl::StatusOr<onsync::v1::SyncMode> SyncModeFromQuery(std::string_view query);

// The 200 body for a result: StructToJson of its values when it ran in RESPOND mode (or the mode
// is unspecified), otherwise the whole result as proto3 JSON with defaults printed. Errors:
// INTERNAL when the result cannot be printed as JSON.
absl::StatusOr<std::string> OutcomeResponseBody(const onsync::v1::SyncResult& result);

class OutcomeRoute final {
 public:
  OutcomeRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines);

  // True for paths under kOutcomesPrefix.
  bool Matches(std::string_view path) const;

  // Expects a POST to a path that Matches.
  void Handle(http::Request request, http::Respond respond) const;

 private:
  const SyncCaller caller_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_OUTCOME_ROUTE_H_
