// grpc.health.v1.Health, served from code generated from Debian's grpc-proto health.proto so
// that server reflection can describe it (gRPC 1.51's built-in health service registers no
// descriptor).
//
// Statuses are kept per service name; "" is the whole server. Check answers NOT_FOUND for an
// unknown service; Watch streams the current status and every change, and SERVICE_UNKNOWN for an
// unknown service until it is set. Shutdown sets every service NOT_SERVING, freezes the
// statuses and ends every Watch stream, so that server shutdown is not held up by watchers.
//
// Thread safety: all methods are thread-safe. The object must outlive the grpc::Server it is
// registered with.
#ifndef ONSYNC_SERVER_SERVICE_HEALTH_SERVICE_H_
#define ONSYNC_SERVER_SERVICE_HEALTH_SERVICE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace onsync::server {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService() = default;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  void SetServingStatus(const std::string& service, bool serving);
  void Shutdown();

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;

  // Called by a Watcher from OnDone.
  void RemoveWatcher(Watcher* watcher);
  ServingStatus StatusOf(const std::string& service) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_HEALTH_SERVICE_H_
