// Assembles onsync's gRPC server: SyncService, grpc.health.v1.Health and server reflection on
// one listener.
//
// Usage:
//   auto server = onsync::server::Server::Start({.listen = "127.0.0.1:0", .config = config});
//   ... (*server)->port() ...
//   (*server)->Shutdown(absl::Seconds(10));
//
// Health: "" and "onsync.v1.SyncService" are SERVING once Start returns; Shutdown flips them
// to NOT_SERVING first, then gives in-flight calls `grace` to finish; syncs still waiting on an
// upstream then have their upstream requests cancelled, so that Shutdown returns.
//
// Metrics: with an admin address (`admin_listen`, else `server.admin_listen`), an HTTP listener
// serves `GET /metrics` (Prometheus text; families in server_metrics.h) and nothing else (404;
// 405 for another method on /metrics). It stops first in Shutdown.
//
// Thread safety: Shutdown may be called from any thread, more than once.
#ifndef ONSYNC_SERVER_SERVICE_SERVER_H_
#define ONSYNC_SERVER_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "common/metrics.h"
#include "onsync/v1/config.pb.h"
#include "server/config/secrets.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace onsync::server {

class HealthService;
class SyncServiceImpl;

struct ServerOptions {
  // host:port; port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  std::shared_ptr<const onsync::v1::Config> config = nullptr;
  // Largest message received or sent.
  int max_message_bytes = 4 << 20;
  // Where configured secrets are read from; null means the real environment and files.
  const config::SecretSource* secrets = nullptr;
  // The SQLite job store's file; empty: `jobs.sqlite.path`, else kDefaultJobsDbPath. With
  // `jobs.postgres` (the PostgreSQL store) it must be empty.
  std::string jobs_db_path = {};
  // host:port of the admin HTTP listener (GET /metrics; port 0 picks a free port); empty:
  // `server.admin_listen`; both empty: no listener.
  std::string admin_listen = {};
  // Where the metrics are registered; null: metrics::Registry::Default().
  metrics::Registry* metrics = nullptr;
};

// Relative to the working directory.
inline constexpr char kDefaultJobsDbPath[] = "onsync-jobs.db";

class Server final {
 public:
  // Errors: INVALID_ARGUMENT (no config; jobs_db_path with `jobs.postgres`), UNAVAILABLE (cannot
  // listen on the address, or on the admin address: "admin listener: ..."), and those of
  // UpstreamPool::Create (an unreadable secret) and of opening the job store: SQLite's
  // (FAILED_PRECONDITION when another process holds the file) or PostgreSQL's ("jobs.postgres:
  // ...": an unreadable DSN secret, INVALID_ARGUMENT for a malformed DSN, UNAVAILABLE for an
  // unreachable database, FAILED_PRECONDITION for a schema it cannot use), and
  // tls::LoadTlsPem's for `server.tls` files that do not check out ("server.tls.key_file: ...").
  //
  // Transport: plaintext, or with `server.tls` TLS; with `server.tls.ca_file` client certificates
  // are verified against that CA, and `require_client_cert` refuses clients without one (mTLS).
  //
  // Job store: `jobs.postgres` chooses the PostgreSQL store, shared by replicas (its leases are
  // left to expire: other replicas may be running their jobs); otherwise the SQLite store, whose
  // leases are all released at start (only this process can open its file, so no earlier worker
  // is alive).
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const { return port_; }
  // The admin listener's bound port; 0 when there is none.
  int admin_port() const { return admin_ != nullptr ? admin_->port() : 0; }

  void Shutdown(absl::Duration grace);

 private:
  Server(std::unique_ptr<HealthService> health, std::unique_ptr<SyncServiceImpl> sync);

  // Services outlive grpc_server_, which is destroyed first.
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<SyncServiceImpl> sync_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  metrics::CollectorHandle collector_;  // reads sync_: unregistered before sync_ is destroyed
  std::unique_ptr<http::Server> admin_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_SERVER_H_
