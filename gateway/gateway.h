// onsync-gateway assembled: the HTTP server, the gRPC channel to onsync-server, and the routes.
//
// Caller authentication (auth/caller_auth.h) guards every route but /healthz, /readyz and
// /metrics: a refused request gets 401 with `WWW-Authenticate` and a JSON error.
//
// Routes: GET /healthz, GET /readyz (probes.h); POST /onsync.v1.SyncService/<Method>
// (generic_rpc_route.h); POST /sync, the PoC's route (sync_route.h); POST /v1/outcomes/{profile},
// Onspring's REST API outcome (outcome_route.h; 202 with the job for an async profile);
// GET /v1/jobs/{id} (jobs_route.h); GET /metrics, the Prometheus text of `metrics` (no auth, not
// counted by the concurrency cap). Anything else is a JSON 404 (405 with `Allow`
// for a known path with the wrong method). Requests beyond `max_concurrent_requests` get 503 with
// Retry-After instead of queueing. All routes share one gRPC channel to the server.
//
// Metrics: http_requests_total{route,method,status} and http_request_duration_seconds{route}
// (handler called to response delivered), where `route` is one of kMetricRoutes (never the raw
// path) and `method` GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or "other". Requests the HTTP
// core answers itself (malformed, 413, 431) are not counted.
//
// Thread safety: Shutdown may be called from any thread, more than once.
#ifndef ONSYNC_GATEWAY_GATEWAY_H_
#define ONSYNC_GATEWAY_GATEWAY_H_

#include <grpcpp/channel.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "common/tls.h"
#include "gateway/auth/caller_auth.h"
#include "gateway/routes/call_context.h"
#include "gateway/routes/generic_rpc_route.h"
#include "gateway/routes/jobs_route.h"
#include "gateway/routes/outcome_route.h"
#include "gateway/routes/probes.h"
#include "gateway/routes/sync_route.h"

namespace onsync::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:8080";
  // gRPC target of onsync-server: `host:port`, `ipv4:a:port,b:port` or `dns:///name:port`. Calls
  // are balanced round-robin over every address it resolves to.
  std::string server = "127.0.0.1:50051";
  int threads = 2;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  absl::Duration read_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(30);
  RpcDeadlines deadlines;
  int max_concurrent_requests = 1024;
  int max_message_bytes = 4 << 20;
  // Serve HTTPS with these files (gateway.tls; with ca_file, client certificates are verified).
  std::optional<tls::TlsFiles> tls;
  // Dial the server with TLS, or mTLS when cert_file/key_file are set (gateway.server_tls).
  std::optional<tls::TlsFiles> server_tls;
  // Who may call; null or open(): every route is open.
  std::shared_ptr<CallerAuth> auth;
  // Where the gateway's metrics are registered and what GET /metrics serves; null:
  // metrics::Registry::Default().
  metrics::Registry* metrics = nullptr;
};

// The values of the `route` label.
inline constexpr const char* kMetricRoutes[] = {
    "/sync",    "/v1/outcomes", "/v1/jobs", "/onsync.v1.SyncService",
    "/healthz", "/readyz",      "/metrics", "other"};

// Sets the options `config` gives (fields left unset keep `options`' values). The TLS files are
// checked by Gateway::Start. Errors: none today (the status is for future settings).
absl::Status ApplyGatewayConfig(const onsync::v1::GatewayConfig& config, GatewayOptions& options);

// True when `listen`'s host is a loopback address (127.x.x.x, ::1, localhost).
bool IsLoopbackListen(std::string_view listen);

class Gateway final {
 public:
  // Errors: those of http::Server::Start (address invalid or in use; `tls` files that do not
  // check out) and tls::LoadTlsPem's for `server_tls` ("gateway.server_tls.ca_file: ...").
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayOptions options);

  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  int port() const;

  // Stops accepting; requests in progress get `grace` to finish.
  void Shutdown(absl::Duration grace);

 private:
  Gateway(GatewayOptions options, std::shared_ptr<grpc::Channel> channel);
  void Dispatch(http::Request request, http::Respond respond);
  void Route(http::Request request, http::Respond respond);
  // The `route` label of a path.
  const char* RouteName(std::string_view path) const;

  const GatewayOptions options_;
  const std::shared_ptr<grpc::Channel> channel_;
  GenericRpcRoute sync_service_route_;
  SyncRoute sync_route_;
  OutcomeRoute outcome_route_;
  JobsRoute jobs_route_;
  Probes probes_;
  metrics::Registry& metrics_;
  const metrics::CounterFamily requests_;
  const metrics::HistogramFamily durations_;
  // Requests in progress; shared with their Respond wrappers, which may outlive the Gateway.
  const std::shared_ptr<std::atomic<int>> in_flight_ = std::make_shared<std::atomic<int>>(0);
  // Last member: destroyed (and so stopped) first, while the routes still exist.
  std::unique_ptr<http::Server> http_;
};

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_GATEWAY_H_
