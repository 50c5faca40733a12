// onsync-server: flags, configuration, wiring, signals. Logic lives in the libraries.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/signals.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "server/service/server.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, config, "", "Path of the YAML configuration file (required).");
ABSL_FLAG(std::string, jobs_db, "",
          "File of the SQLite job store. Default: jobs.sqlite.path from the config, else "
          "onsync-jobs.db in the working directory. Not with jobs.postgres in the config (the "
          "PostgreSQL store).");
ABSL_FLAG(std::string, listen, "",
          "gRPC listen address host:port (port 0 picks one). Default: server.listen from the "
          "config, else 127.0.0.1:50051.");
ABSL_FLAG(std::string, admin_listen, "",
          "Admin HTTP listen address host:port serving GET /metrics (port 0 picks one). Default: "
          "server.admin_listen from the config; neither: no admin listener.");

namespace {

constexpr int kExitConfigError = 2;
constexpr int kExitStartError = 1;

absl::Duration GraceFrom(const onsync::v1::ServerConfig& server) {
  if (!server.has_shutdown_grace()) return absl::Seconds(10);
  return absl::Seconds(server.shutdown_grace().seconds()) +
         absl::Nanoseconds(server.shutdown_grace().nanos());
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("onsync gRPC server. Usage: onsync-server --config FILE");
  absl::ParseCommandLine(argc, argv);
  onsync::ApplyProcessDefaults();
  onsync::logging::Init("server");

  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    spdlog::error("missing --config FILE");
    return kExitConfigError;
  }
  auto loaded = onsync::config::LoadConfigFile(config_path, onsync::config::SystemSecretSource());
  if (!loaded.ok()) {
    spdlog::error("invalid configuration {}: {}", config_path, loaded.status().message());
    return kExitConfigError;
  }
  auto config = std::make_shared<const onsync::v1::Config>(*std::move(loaded));
  onsync::logging::SetLevel(onsync::config::LogLevelFrom(config->logging()));

  onsync::BlockTerminationSignals();

  onsync::server::ServerOptions options;
  options.config = config;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.jobs_db_path = absl::GetFlag(FLAGS_jobs_db);
  options.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (options.admin_listen.empty()) options.admin_listen = config->server().admin_listen();
  if (options.listen.empty()) options.listen = config->server().listen();
  if (options.listen.empty()) options.listen = "127.0.0.1:50051";
  if (config->server().max_message_bytes() > 0) {
    options.max_message_bytes = config->server().max_message_bytes();
  }
  auto server = onsync::server::Server::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().message());
    return kExitStartError;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  spdlog::info("serving onsync.v1.SyncService with {} profiles", config->profiles_size());
  // The ready line: scripts and tests read the bound port from it.
  std::printf("onsync-server listening on %s:%d\n", host.c_str(), (*server)->port());
  std::fflush(stdout);
  if ((*server)->admin_port() != 0) {
    // After the gRPC line: scripts take the first "listening on" line as the gRPC address.
    const std::string admin_host = options.admin_listen.substr(0, options.admin_listen.rfind(':'));
    std::printf("onsync-server admin listening on %s:%d\n", admin_host.c_str(),
                (*server)->admin_port());
    std::fflush(stdout);
  }

  const int signal_number = onsync::WaitForTerminationSignal();
  const absl::Duration grace = GraceFrom(config->server());
  spdlog::info("signal {}: shutting down, in-flight calls get {}", signal_number,
               absl::FormatDuration(grace));
  (*server)->Shutdown(grace);
  spdlog::info("stopped");
  return 0;
}
