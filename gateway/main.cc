// onsync-gateway: flags, wiring, signals. Logic lives in the gateway library.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/signals.h"
#include "gateway/gateway.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, listen, "",
          "HTTP listen address host:port (port 0 picks one). Default: the config's "
          "gateway.listen, else 127.0.0.1:8080.");
ABSL_FLAG(std::string, server, "",
          "gRPC target of onsync-server(s) (host:port, ipv4:a:p,b:p or dns:///name:port; "
          "round_robin over its addresses). Default: the config's gateway.server, else "
          "127.0.0.1:50051.");
ABSL_FLAG(int, threads, 2, "I/O threads.");
ABSL_FLAG(int64_t, max_body_bytes, 1 << 20, "Largest request body; larger gets 413.");
ABSL_FLAG(int64_t, max_header_bytes, 16 << 10, "Largest request head; larger gets 431.");
ABSL_FLAG(absl::Duration, read_timeout, absl::Seconds(10),
          "Time a client has to send a whole request.");
ABSL_FLAG(absl::Duration, idle_timeout, absl::Seconds(30), "Idle keep-alive connection timeout.");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(25),
          "gRPC deadline when the request has no grpc-timeout header.");
ABSL_FLAG(absl::Duration, max_deadline, absl::Seconds(120),
          "Largest deadline a grpc-timeout header may ask for.");
ABSL_FLAG(int, max_concurrent_requests, 1024, "Requests in progress at once; more get 503.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "Time requests in progress get to finish after SIGTERM/SIGINT.");
ABSL_FLAG(std::string, log_level, "",
          "debug, info, warn or error. Default: the config's logging.level, else info.");
ABSL_FLAG(
    std::string, config, "",
    "onsync YAML config: its `gateway` section and the profiles' caller auth. Settings it "
    "leaves out keep the flags' values; --listen and --server given on the command line win.");
ABSL_FLAG(bool, allow_unauthenticated, false,
          "Serve without caller auth on a non-loopback address (otherwise refused at start).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "onsync HTTP gateway. Usage: onsync-gateway --listen HOST:PORT --server HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  onsync::ApplyProcessDefaults();
  onsync::logging::Init("gateway");
  onsync::BlockTerminationSignals();

  onsync::gateway::GatewayOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.max_header_bytes = absl::GetFlag(FLAGS_max_header_bytes);
  options.read_timeout = absl::GetFlag(FLAGS_read_timeout);
  options.idle_timeout = absl::GetFlag(FLAGS_idle_timeout);
  options.deadlines.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  options.deadlines.max_deadline = absl::GetFlag(FLAGS_max_deadline);
  options.max_concurrent_requests = absl::GetFlag(FLAGS_max_concurrent_requests);
  if (options.threads < 1 || options.max_body_bytes < 1 || options.max_header_bytes < 1 ||
      options.max_concurrent_requests < 1) {
    spdlog::error(
        "--threads, --max_body_bytes, --max_header_bytes and "
        "--max_concurrent_requests must be positive");
    return 2;
  }

  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (!config_path.empty()) {
    // The server's upstream secrets need not be readable here: only their shape is checked.
    auto config =
        onsync::config::LoadConfigFile(config_path, onsync::config::PlaceholderSecretSource());
    if (!config.ok()) {
      spdlog::error("invalid configuration {}: {}", config_path, config.status().message());
      return 2;
    }
    if (absl::Status applied = onsync::gateway::ApplyGatewayConfig(config->gateway(), options);
        !applied.ok()) {
      spdlog::error("{}: {}", config_path, applied.message());
      return 2;
    }
    auto auth = onsync::gateway::CallerAuth::Create(*config, onsync::config::SystemSecretSource());
    if (!auth.ok()) {
      spdlog::error("{}: {}", config_path, auth.status().message());
      return 2;
    }
    options.auth = *std::move(auth);
    onsync::logging::SetLevel(onsync::config::LogLevelFrom(config->logging()));
  }
  if (!absl::GetFlag(FLAGS_log_level).empty()) {
    const auto level = onsync::logging::ParseLevel(absl::GetFlag(FLAGS_log_level));
    if (!level.ok()) {
      spdlog::error("--log_level: {}", level.status().message());
      return 2;
    }
    onsync::logging::SetLevel(*level);
  }
  if (!absl::GetFlag(FLAGS_listen).empty()) options.listen = absl::GetFlag(FLAGS_listen);
  if (!absl::GetFlag(FLAGS_server).empty()) options.server = absl::GetFlag(FLAGS_server);
  if ((options.auth == nullptr || options.auth->open()) &&
      !onsync::gateway::IsLoopbackListen(options.listen)) {
    if (!absl::GetFlag(FLAGS_allow_unauthenticated)) {
      spdlog::error(
          "refusing to serve {} without caller auth: configure gateway.auth (--config) or pass "
          "--allow_unauthenticated",
          options.listen);
      return 2;
    }
    spdlog::warn("serving {} without caller auth (--allow_unauthenticated)", options.listen);
  }

  auto gateway = onsync::gateway::Gateway::Start(options);
  if (!gateway.ok()) {
    spdlog::error("cannot start: {}", gateway.status().message());
    return 1;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  spdlog::info("serving {}; forwarding to {} over {}",
               options.tls.has_value() ? "HTTPS (gateway.tls)" : "plain HTTP", options.server,
               !options.server_tls.has_value()         ? "plaintext gRPC"
               : options.server_tls->cert_file.empty() ? "TLS (gateway.server_tls)"
                                                       : "mTLS (gateway.server_tls)");
  // The ready line: scripts and tests read the bound port from it.
  std::printf("onsync-gateway listening on %s:%d\n", host.c_str(), (*gateway)->port());
  std::fflush(stdout);

  const int signal_number = onsync::WaitForTerminationSignal();
  spdlog::info("signal {}: shutting down", signal_number);
  (*gateway)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  spdlog::info("stopped");
  return 0;
}
