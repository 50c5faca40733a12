// Probe routes, unauthenticated: `GET /healthz` (the gateway process is up: always 200) and
// `GET /readyz` (200 only while the server's grpc.health.v1 Check says SERVING; 503 otherwise,
// including when the server cannot be reached within `check_timeout`).
//
// Thread safety: Handle* may be called concurrently; Readyz never blocks (async health check).
#ifndef ONSYNC_GATEWAY_ROUTES_PROBES_H_
#define ONSYNC_GATEWAY_ROUTES_PROBES_H_

#include <grpcpp/channel.h>

#include <memory>

#include "absl/time/time.h"
#include "common/http_server.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace onsync::gateway {

class Probes final {
 public:
  Probes(std::shared_ptr<grpc::Channel> channel, absl::Duration check_timeout);

  void HandleHealthz(http::Request request, http::Respond respond) const;
  void HandleReadyz(http::Request request, http::Respond respond) const;

 private:
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const absl::Duration check_timeout_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_ROUTES_PROBES_H_
