// `GET /v1/jobs/{id}`: a durable job (the 202 of an async outcome names it) as proto3 JSON, from
// GetJob. An id that is not `j_` followed by 1-64 letters and digits is 404 without a call; an
// unknown one is the server's NOT_FOUND (404).
//
// Thread safety: Handle may be called concurrently from any thread; it never blocks.
#ifndef ONSYNC_GATEWAY_ROUTES_JOBS_ROUTE_H_
#define ONSYNC_GATEWAY_ROUTES_JOBS_ROUTE_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string_view>

#include "common/http_server.h"
#include "gateway/routes/call_context.h"
#include "onsync/v1/sync_service.grpc.pb.h"

namespace onsync::gateway {

inline constexpr std::string_view kJobsPrefix = "/v1/jobs/";

class JobsRoute final {
 public:
  JobsRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines);

  // True for paths under kJobsPrefix.
  bool Matches(std::string_view path) const;

  // Expects a GET to a path that Matches.
  void Handle(http::Request request, http::Respond respond) const;

 private:
  const RpcDeadlines deadlines_;
  const std::unique_ptr<onsync::v1::SyncService::Stub> stub_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_JOBS_ROUTE_H_
