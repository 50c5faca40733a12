#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc_tls.h"
#include "server/config/secrets.h"
#include "server/config/tls_files.h"
#include "server/jobs/postgres_create_lock.h"
#include "server/jobs/postgres_job_store.h"
#include "server/jobs/sqlite_job_store.h"
#include "server/service/health_service.h"
#include "server/service/server_metrics.h"
#include "server/service/sync_service.h"

namespace onsync::server {
namespace {

// Default of jobs.postgres.pool_size (0); other values outside 1..100 stop the start.
constexpr int kDefaultPostgresPoolSize = 8;

// The job store, and with PostgreSQL the lock that makes creates of referenced records single
// across replicas.
struct Stores {
  std::unique_ptr<jobs::JobStore> jobs;
  std::shared_ptr<engine::CreateLock> create_lock;  // null without PostgreSQL
};

// The store shared by replicas. Leases are not released at start: other replicas' workers may be
// running their jobs; the jobs of a replica that died are claimed again when their leases expire.
absl::StatusOr<Stores> OpenPostgresJobStore(const v1::PostgresStore& postgres,
                                            const config::SecretSource& secrets) {
  // The DSN may hold a password: it is resolved here, passed on, and never logged.
  absl::StatusOr<std::string> dsn =
      config::ResolveSecret("jobs.postgres.dsn", postgres.dsn(), postgres.dsn_file(), secrets);
  if (!dsn.ok()) return dsn.status();
  absl::StatusOr<std::unique_ptr<jobs::PostgresJobStore>> store = jobs::PostgresJobStore::Open(
      {.dsn = *dsn,
       .pool_size = postgres.pool_size() != 0 ? postgres.pool_size() : kDefaultPostgresPoolSize},
      clients::RealClock());
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        absl::StrCat("jobs.postgres: ", store.status().message()));
  }
  absl::StatusOr<std::unique_ptr<jobs::PostgresCreateLock>> lock =
      jobs::PostgresCreateLock::Open({.dsn = *std::move(dsn)});
  if (!lock.ok()) {
    return absl::Status(lock.status().code(),
                        absl::StrCat("jobs.postgres: ", lock.status().message()));
  }
  return Stores{.jobs = *std::move(store), .create_lock = *std::move(lock)};
}

absl::StatusOr<Stores> OpenJobStore(const ServerOptions& options,
                                    const config::SecretSource& secrets) {
  const v1::JobsConfig& jobs = options.config->jobs();
  if (jobs.has_postgres()) {
    if (!options.jobs_db_path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the SQLite job store file ", options.jobs_db_path,
          " (--jobs_db) was given, but the config chooses the PostgreSQL store (jobs.postgres): "
          "drop one"));
    }
    return OpenPostgresJobStore(jobs.postgres(), secrets);
  }
  std::string path = options.jobs_db_path;
  if (path.empty()) path = jobs.sqlite().path();
  if (path.empty()) path = kDefaultJobsDbPath;
  absl::StatusOr<std::unique_ptr<jobs::SqliteJobStore>> store =
      jobs::SqliteJobStore::Open(path, clients::RealClock());
  if (!store.ok()) return store.status();
  // Only this process can open the file: jobs left RUNNING were its predecessor's.
  if (absl::Status released = (*store)->ReleaseAllLeases(); !released.ok()) return released;
  return Stores{.jobs = *std::move(store), .create_lock = nullptr};
}

// One I/O thread: a scrape reads the job store's counts on it (a short query), which only ever
// delays other scrapes.
absl::StatusOr<std::unique_ptr<http::Server>> StartAdmin(const std::string& listen,
                                                         metrics::Registry& registry) {
  http::ServerOptions options;
  options.listen = listen;
  options.threads = 1;
  options.max_body_bytes = 64 << 10;
  return http::Server::Start(std::move(options), [&registry](http::Request request,
                                                             http::Respond respond) {
    http::Response response;
    if (request.path != "/metrics") {
      response = http::DefaultErrorResponse(404, "not found; the admin listener serves /metrics");
    } else if (request.method != "GET") {
      response = http::DefaultErrorResponse(405, "GET only");
      response.headers.emplace_back("Allow", "GET");
    } else {
      response.content_type = metrics::kTextContentType;
      response.body = registry.Serialize();
    }
    std::move(respond)(std::move(response));
  });
}

}  // namespace

Server::Server(std::unique_ptr<HealthService> health, std::unique_ptr<SyncServiceImpl> sync)
    : health_(std::move(health)), sync_(std::move(sync)) {}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  if (options.config == nullptr) return absl::InvalidArgumentError("server started without config");
  // Must run before the builder exists; also keeps the reflection library linked.
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  metrics::Registry& registry =
      options.metrics != nullptr ? *options.metrics : metrics::Registry::Default();
  const config::SecretSource& secrets =
      options.secrets != nullptr ? *options.secrets : config::SystemSecretSource();
  absl::StatusOr<std::unique_ptr<UpstreamPool>> upstreams =
      UpstreamPool::Create(*options.config, secrets, &registry);
  if (!upstreams.ok()) return upstreams.status();
  absl::StatusOr<Stores> stores = OpenJobStore(options, secrets);
  if (!stores.ok()) return stores.status();
  std::unique_ptr<Server> server(new Server(
      std::make_unique<HealthService>(),
      std::make_unique<SyncServiceImpl>(options.config, *std::move(upstreams),
                                        std::move(stores->jobs), std::move(stores->create_lock))));
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.config->server().has_tls()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls = tls::GrpcServerCredentials(
        config::TlsFilesFrom(options.config->server().tls()), "server.tls");
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  // gRPC sets SO_REUSEPORT by default, so a second server on a busy port would silently share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(server->health_.get());
  builder.RegisterService(server->sync_.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeGrpcMetricsInterceptor(registry));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    if (server->grpc_server_ != nullptr) server->grpc_server_->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, " (address invalid or in use)"));
  }
  server->collector_ =
      registry.AddCollector([sync = server->sync_.get()] { return CollectServerMetrics(*sync); });
  const std::string admin_listen = !options.admin_listen.empty()
                                       ? options.admin_listen
                                       : options.config->server().admin_listen();
  if (!admin_listen.empty()) {
    absl::StatusOr<std::unique_ptr<http::Server>> admin = StartAdmin(admin_listen, registry);
    if (!admin.ok()) {
      server->Shutdown(absl::ZeroDuration());
      return absl::Status(admin.status().code(),
                          absl::StrCat("admin listener: ", admin.status().message()));
    }
    server->admin_ = *std::move(admin);
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
  if (admin_ != nullptr) admin_->Shutdown(absl::ZeroDuration());
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
