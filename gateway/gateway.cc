#include "gateway/gateway.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_tls.h"
#include "common/logging.h"
#include "common/string_view.h"
#include "common/trace_context.h"
#include "gateway/routes/error_response.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/config/durations.h"
#include "server/config/tls_files.h"

namespace onsync::gateway {
namespace {

constexpr absl::Duration kReadinessCheckTimeout = absl::Seconds(2);
// Longest caller-supplied request id and path in an access log line.
constexpr size_t kMaxLoggedRequestId = 128;
constexpr size_t kMaxLoggedPath = 256;

// Access lines: failures of the gateway or the server at warn, refused requests at info, the
// rest at debug (one line per request is too many for info under load).
logging::Level AccessLogLevel(int status) {
  if (status >= 500) return logging::Level::kWarn;
  if (status >= 400) return logging::Level::kInfo;
  return logging::Level::kDebug;
}

// Taken through a generated message so that the descriptors are linked in and registered.
const google::protobuf::ServiceDescriptor& SyncServiceDescriptor() {
  return *onsync::v1::SyncRecordRequest::descriptor()->file()->FindServiceByName("SyncService");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const GatewayOptions& options) {
  grpc::ChannelArguments args;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (options.server_tls.has_value()) {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls =
        tls::GrpcChannelCredentials(*options.server_tls, "gateway.server_tls", args);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
  }
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // gRPC's default reconnect backoff starts at 1 s and grows to 120 s: after a server restart
  // (about 50 ms) the gateway would answer 503 for seconds. Reconnect within a few hundred ms.
  // (The minimum backoff is also the connect timeout: it keeps its default.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Every address the target resolves to gets calls in turn: a list (`ipv4:a:1,b:2`) or a DNS
  // name with several records (a Kubernetes headless Service). gRPC's default, pick_first, would
  // send everything to the first address.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(options.server, credentials, args);
}

// Decrements the in-flight count when the request's Respond is used or dropped. Shares the
// counter: a gRPC completion may release its Respond after the Gateway is gone.
class InFlightToken final {
 public:
  explicit InFlightToken(std::shared_ptr<std::atomic<int>> counter)
      : counter_(std::move(counter)) {}
  InFlightToken(InFlightToken&& other) noexcept = default;
  InFlightToken& operator=(InFlightToken&&) = delete;
  ~InFlightToken() {
    if (counter_ != nullptr) counter_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::shared_ptr<std::atomic<int>> counter_;
};

http::Response MethodNotAllowed(const http::Request& request, const char* allowed) {
  http::Response response =
      ErrorResponse(405, absl::StatusCode::kUnimplemented,
                    absl::StrCat(request.method, " not allowed on ", request.path));
  response.headers.emplace_back("Allow", allowed);
  return response;
}

// The `method` label: the common methods, anything else "other".
const char* MethodName(std::string_view method) {
  for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

absl::Status ApplyGatewayConfig(const v1::GatewayConfig& config, GatewayOptions& options) {
  if (config.has_tls()) options.tls = config::TlsFilesFrom(config.tls());
  if (config.has_server_tls()) options.server_tls = config::TlsFilesFrom(config.server_tls());
  if (!config.listen().empty()) options.listen = config.listen();
  if (!config.server().empty()) options.server = config.server();
  if (config.threads() > 0) options.threads = config.threads();
  if (config.max_body_bytes() > 0) options.max_body_bytes = config.max_body_bytes();
  if (config.max_header_bytes() > 0) options.max_header_bytes = config.max_header_bytes();
  options.read_timeout =
      config::DurationOr(config.has_read_timeout(), config.read_timeout(), options.read_timeout);
  options.idle_timeout =
      config::DurationOr(config.has_idle_timeout(), config.idle_timeout(), options.idle_timeout);
  options.deadlines.default_deadline = config::DurationOr(
      config.has_default_deadline(), config.default_deadline(), options.deadlines.default_deadline);
  options.deadlines.max_deadline = config::DurationOr(
      config.has_max_deadline(), config.max_deadline(), options.deadlines.max_deadline);
  if (config.max_concurrent_requests() > 0) {
    options.max_concurrent_requests = config.max_concurrent_requests();
  }
  return absl::OkStatus();
}

bool IsLoopbackListen(std::string_view listen) {
  const std::string_view host = listen.substr(0, listen.rfind(':'));
  return host == "localhost" || host == "[::1]" || absl::StartsWith(ToAbsl(host), "127.");
}

Gateway::Gateway(GatewayOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      sync_service_route_(channel_, SyncServiceDescriptor(), options_.deadlines),
      sync_route_(channel_, options_.deadlines),
      outcome_route_(channel_, options_.deadlines),
      jobs_route_(channel_, options_.deadlines),
      probes_(channel_, kReadinessCheckTimeout),
      metrics_(options_.metrics != nullptr ? *options_.metrics : metrics::Registry::Default()),
      requests_(metrics_.Counter("http_requests_total",
                                 "HTTP requests answered by the gateway, by route, method and "
                                 "status.",
                                 {"route", "method", "status"})),
      durations_(metrics_.Histogram("http_request_duration_seconds",
                                    "Time from a complete HTTP request to its response, by route.",
                                    {"route"})) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(options);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<Gateway> gateway(new Gateway(std::move(options), *std::move(channel)));
  http::ServerOptions http_options;
  http_options.tls = gateway->options_.tls;
  http_options.tls_name = "gateway.tls";
  http_options.listen = gateway->options_.listen;
  http_options.threads = gateway->options_.threads;
  http_options.max_body_bytes = gateway->options_.max_body_bytes;
  http_options.max_header_bytes = gateway->options_.max_header_bytes;
  http_options.read_timeout = gateway->options_.read_timeout;
  http_options.idle_timeout = gateway->options_.idle_timeout;
  http_options.error_response = [](int http_status, std::string_view message) {
    absl::StatusCode code = absl::StatusCode::kInvalidArgument;
    if (http_status == 413 || http_status == 431) code = absl::StatusCode::kResourceExhausted;
    if (http_status == 503) code = absl::StatusCode::kUnavailable;
    if (http_status >= 500 && http_status != 503) code = absl::StatusCode::kInternal;
    return ErrorResponse(http_status, code, ToAbsl(message));
  };
  Gateway* raw = gateway.get();
  auto http = http::Server::Start(std::move(http_options),
                                  [raw](http::Request request, http::Respond respond) {
                                    raw->Dispatch(std::move(request), std::move(respond));
                                  });
  if (!http.ok()) return http.status();
  gateway->http_ = *std::move(http);
  return gateway;
}

Gateway::~Gateway() { Shutdown(absl::ZeroDuration()); }

int Gateway::port() const { return http_->port(); }

void Gateway::Shutdown(absl::Duration grace) {
  if (http_ != nullptr) http_->Shutdown(grace);
}

const char* Gateway::RouteName(std::string_view path) const {
  if (path == "/healthz") return "/healthz";
  if (path == "/readyz") return "/readyz";
  if (path == "/metrics") return "/metrics";
  if (sync_route_.Matches(path)) return "/sync";
  if (outcome_route_.Matches(path)) return "/v1/outcomes";
  if (jobs_route_.Matches(path)) return "/v1/jobs";
  if (sync_service_route_.Matches(path)) return "/onsync.v1.SyncService";
  return "other";
}

void Gateway::Dispatch(http::Request request, http::Respond respond) {
  const char* route = RouteName(request.path);
  const char* method = MethodName(request.method);
  const absl::Time start = absl::Now();
  // The event's trace: the caller's, continued with this hop's parent id, or a new one. The
  // routes forward the request's traceparent to the server as metadata (call_context.h).
  const TraceContext trace = ContinueOrStartTrace(request.Header("traceparent"));
  std::erase_if(request.headers, [](const auto& header) { return header.first == "traceparent"; });
  request.headers.emplace_back("traceparent", trace.ToTraceparent());
  logging::LogContext log{.trace_id = trace.trace_id};
  if (const std::optional<std::string_view> id = request.Header("x-request-id")) {
    log.request_id = std::string(id->substr(0, kMaxLoggedRequestId));
  }
  std::string path = request.path.substr(0, kMaxLoggedPath);
  // The metric families live in the registry, which outlives the gateway (and its responses).
  http::Respond measured = [requests = requests_, durations = durations_, route, method, start,
                            log = std::move(log), path = std::move(path),
                            respond = std::move(respond)](http::Response response) mutable {
    const absl::Duration took = absl::Now() - start;
    // Counted before the response goes out, so that the client's next scrape sees it.
    requests.With({route, method, absl::StrCat(response.status)}).Increment();
    durations.With({route}).Observe(absl::ToDoubleSeconds(took));
    logging::Log(log, AccessLogLevel(response.status), "{} {} -> {} in {} ms", method, path,
                 response.status, absl::ToDoubleMilliseconds(took));
    std::move(respond)(std::move(response));
  };
  Route(std::move(request), std::move(measured));
}

void Gateway::Route(http::Request request, http::Respond respond) {
  if (request.path == "/metrics") {
    if (request.method != "GET") return std::move(respond)(MethodNotAllowed(request, "GET"));
    http::Response response;
    response.content_type = metrics::kTextContentType;
    response.body = metrics_.Serialize();
    return std::move(respond)(std::move(response));
  }
  if (request.path == "/healthz") {
    if (request.method != "GET") return std::move(respond)(MethodNotAllowed(request, "GET"));
    return probes_.HandleHealthz(std::move(request), std::move(respond));
  }
  if (in_flight_->fetch_add(1, std::memory_order_relaxed) >= options_.max_concurrent_requests) {
    in_flight_->fetch_sub(1, std::memory_order_relaxed);
    http::Response busy = ErrorResponse(503, absl::StatusCode::kUnavailable,
                                        "too many requests in progress; retry shortly");
    busy.headers.emplace_back("Retry-After", "1");
    return std::move(respond)(std::move(busy));
  }
  http::Respond counted = [token = InFlightToken(in_flight_),
                           respond = std::move(respond)](http::Response response) mutable {
    std::move(respond)(std::move(response));
  };
  if (request.path == "/readyz") {
    if (request.method != "GET") return std::move(counted)(MethodNotAllowed(request, "GET"));
    return probes_.HandleReadyz(std::move(request), std::move(counted));
  }
  if (options_.auth != nullptr) {
    const std::string_view profile =
        outcome_route_.Matches(request.path)
            ? std::string_view(request.path).substr(kOutcomesPrefix.size())
            : std::string_view();
    absl::StatusOr<Admission> admitted = options_.auth->Check(request, profile, absl::Now());
    if (!admitted.ok()) {
      http::Response refused = ErrorResponse(admitted.status());
      if (admitted.status().code() == absl::StatusCode::kUnauthenticated) {
        // The challenge of this route's methods replaces ErrorResponse's generic one.
        std::erase_if(refused.headers, [](const auto& header) {
          return absl::EqualsIgnoreCase(header.first, "WWW-Authenticate");
        });
        refused.headers.emplace_back("WWW-Authenticate", options_.auth->Challenge(profile));
      } else {
        refused.headers.emplace_back("Retry-After", "1");
      }
      return std::move(counted)(std::move(refused));
    }
    if (!admitted->replay_key.empty()) {
      // A signed delivery that failed on onsync's side may come again with the same id.
      counted = [auth = options_.auth, admission = *std::move(admitted),
                 respond = std::move(counted)](http::Response response) mutable {
        if (response.status >= 500 || response.status == 429) auth->Release(admission);
        std::move(respond)(std::move(response));
      };
    }
  }
  if (sync_service_route_.Matches(request.path)) {
    return sync_service_route_.Handle(std::move(request), std::move(counted));
  }
  if (sync_route_.Matches(request.path)) {
    if (request.method != "POST") return std::move(counted)(MethodNotAllowed(request, "POST"));
    return sync_route_.Handle(std::move(request), std::move(counted));
  }
  if (outcome_route_.Matches(request.path)) {
    if (request.method != "POST") return std::move(counted)(MethodNotAllowed(request, "POST"));
    return outcome_route_.Handle(std::move(request), std::move(counted));
  }
  if (jobs_route_.Matches(request.path)) {
    if (request.method != "GET") return std::move(counted)(MethodNotAllowed(request, "GET"));
    return jobs_route_.Handle(std::move(request), std::move(counted));
  }
  std::move(counted)(
      ErrorResponse(absl::NotFoundError(absl::StrCat("no route for ", request.path))));
}

}  // namespace onsync::gateway
