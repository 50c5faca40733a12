#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/jobs/sqlite_job_store.h"
#include "server/service/health_service.h"
#include "server/service/sync_service.h"

namespace onsync::server {
namespace {

absl::StatusOr<std::unique_ptr<jobs::JobStore>> OpenJobStore(const ServerOptions& options) {
  const v1::JobsConfig& jobs = options.config->jobs();
  if (jobs.has_postgres()) {
    return absl::FailedPreconditionError(
        "jobs.postgres: the PostgreSQL job store is not part of this build; use jobs.sqlite");
  }
  std::string path = options.jobs_db_path;
  if (path.empty()) path = jobs.sqlite().path();
  if (path.empty()) path = kDefaultJobsDbPath;
  absl::StatusOr<std::unique_ptr<jobs::SqliteJobStore>> store =
      jobs::SqliteJobStore::Open(path, clients::RealClock());
  if (!store.ok()) return store.status();
  // Only this process can open the file: jobs left RUNNING were its predecessor's.
  if (absl::Status released = (*store)->ReleaseAllLeases(); !released.ok()) return released;
  return std::unique_ptr<jobs::JobStore>(*std::move(store));
}

}  // namespace

Server::Server(std::unique_ptr<HealthService> health, std::unique_ptr<SyncServiceImpl> sync)
    : health_(std::move(health)), sync_(std::move(sync)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  if (options.config == nullptr) return absl::InvalidArgumentError("server started without config");
  // Must run before the builder exists; also keeps the reflection library linked.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  absl::StatusOr<std::unique_ptr<UpstreamPool>> upstreams = UpstreamPool::Create(
      *options.config,
      options.secrets != nullptr ? *options.secrets : config::SystemSecretSource());
  if (!upstreams.ok()) return upstreams.status();
  absl::StatusOr<std::unique_ptr<jobs::JobStore>> store = OpenJobStore(options);
  if (!store.ok()) return store.status();
  std::unique_ptr<Server> server(new Server(
      std::make_unique<HealthService>(),
      std::make_unique<SyncServiceImpl>(options.config, *std::move(upstreams), *std::move(store))));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &server->port_);
  // gRPC sets SO_REUSEPORT by default, so a second server on a busy port would silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(server->health_.get());
  builder.RegisterService(server->sync_.get());
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    if (server->grpc_server_ != nullptr) server->grpc_server_->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, " (address invalid or in use)"));
  }
  server->health_->SetServingStatus("", true);
  server->health_->SetServingStatus(onsync::v1::SyncService::service_full_name(), true);
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

void Server::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_ || grpc_server_ == nullptr) return;
    shut_down_ = true;
  }
  health_->Shutdown();
  const absl::Time deadline = absl::Now() + grace;
  // gRPC cancels the calls still running at the deadline, but a callback-API call ends only when
  // its handler finishes, and a job attempt only when its sync does: syncs still waiting on a
  // slow upstream at the deadline are released by cancelling their upstream requests.
  absl::Notification stopped;
  std::thread canceller([this, deadline, &stopped] {
    if (!stopped.WaitForNotificationWithDeadline(deadline + absl::Milliseconds(100))) {
      sync_->CancelUpstreams();
    }
  });
  std::thread rpcs([this, deadline] { grpc_server_->Shutdown(absl::ToChronoTime(deadline)); });
  sync_->StopWorkers(grace);
  rpcs.join();
  stopped.Notify();
  canceller.join();
  grpc_server_->Wait();
}

}  // namespace onsync::server
