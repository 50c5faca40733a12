#include "server/service/upstreams.h"

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/origin.h"
#include "clients/servicenow/table_client.h"
#include "common/string_view.h"
#include "server/config/durations.h"

namespace onsync::server {
namespace {

using clients::onspring::OnspringClient;
using clients::servicenow::Authenticator;
using clients::servicenow::TableClient;
using config::DurationOr;

// Names the tenant of an Onspring connection without holding its key in the cache keys.
std::string OnspringScope(std::string_view base_url, std::string_view api_key) {
  return absl::StrFormat("%s#%016x", ToAbsl(base_url), std::hash<std::string_view>{}(api_key));
}

// The host of an origin `scheme://host[:port]` (IPv6 brackets kept).
std::string HostOf(std::string_view origin) {
  std::string_view rest = origin.substr(origin.find("://") + 3);
  if (!rest.empty() && rest.front() == '[') return std::string(rest.substr(0, rest.find(']') + 1));
  return std::string(rest.substr(0, rest.find(':')));
}

// A TableClient together with the authenticator it refers to.
struct ServiceNowClient {
  std::unique_ptr<Authenticator> authenticator;
  std::unique_ptr<TableClient> table;
};

absl::StatusOr<std::shared_ptr<ServiceNowClient>> MakeServiceNow(
    clients::HttpTransport& transport, clients::Scheduler& scheduler,
    std::unique_ptr<Authenticator> authenticator, std::string_view instance_url) {
  auto client = std::make_shared<ServiceNowClient>();
  client->authenticator = std::move(authenticator);
  absl::StatusOr<std::unique_ptr<TableClient>> table =
      TableClient::Create(transport, scheduler, *client->authenticator, instance_url);
  if (!table.ok()) return table.status();
  client->table = *std::move(table);
  return client;
}

engine::Upstreams MakeUpstreams(std::shared_ptr<ServiceNowClient> servicenow,
                                std::unique_ptr<OnspringClient> onspring, std::string scope) {
  engine::Upstreams upstreams;
  upstreams.servicenow = std::shared_ptr<TableClient>(servicenow, servicenow->table.get());
  upstreams.onspring = std::move(onspring);
  upstreams.onspring_scope = std::move(scope);
  upstreams.keep_alive = std::move(servicenow);
  return upstreams;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UpstreamPool>> UpstreamPool::Create(
    const v1::Config& config, const config::SecretSource& secrets, metrics::Registry* metrics) {
  std::unique_ptr<UpstreamPool> pool(new UpstreamPool());
  const v1::UpstreamConfig& up = config.upstream();
  clients::CurlTransportOptions curl;
  curl.connect_timeout =
      DurationOr(up.has_connect_timeout(), up.connect_timeout(), absl::Seconds(5));
  if (up.max_connections_per_host() > 0) {
    curl.max_connections_per_host = up.max_connections_per_host();
  }
  curl.ca_file = up.ca_file();
  absl::StatusOr<std::unique_ptr<clients::CurlTransport>> transport =
      clients::CurlTransport::Create(curl);
  if (!transport.ok()) return transport.status();
  pool->curl_ = *std::move(transport);

  clients::RetryOptions retry;
  if (up.max_attempts() > 0) retry.max_attempts = up.max_attempts();
  retry.initial_backoff =
      DurationOr(up.has_initial_backoff(), up.initial_backoff(), retry.initial_backoff);
  retry.max_backoff = DurationOr(up.has_max_backoff(), up.max_backoff(), retry.max_backoff);
  if (up.retry_budget_ratio() > 0) retry.budget_ratio = up.retry_budget_ratio();
  clients::HttpTransport* attempts = pool->curl_.get();
  if (metrics != nullptr) {
    pool->metered_ = std::make_unique<clients::MeteredTransport>(*pool->curl_, *metrics);
    attempts = pool->metered_.get();
  }
  pool->retrying_ = std::make_unique<clients::RetryingTransport>(*attempts, *pool->curl_,
                                                                 clients::RealClock(), retry);
  pool->default_timeout_ =
      DurationOr(up.has_request_timeout(), up.request_timeout(), absl::Seconds(20));
  pool->inline_sync_ = config.server().inline_sync();
  pool->onspring_base_url_ = config.onspring().base_url();

  if (!config.has_servicenow()) {
    pool->missing_ = "no servicenow connection is configured";
    return pool;
  }
  if (!config.has_onspring()) {
    pool->missing_ = "no onspring connection is configured";
    return pool;
  }
  const v1::ServiceNowConnection& sn = config.servicenow();
  std::string password;
  std::string client_secret;
  if (sn.auth().has_basic()) {
    absl::StatusOr<std::string> resolved =
        config::ResolveSecret("servicenow.auth.basic.password", sn.auth().basic().password(),
                              sn.auth().basic().password_file(), secrets);
    if (!resolved.ok()) return resolved.status();
    password = *std::move(resolved);
  } else if (sn.auth().has_oauth()) {
    const v1::ServiceNowOAuth& oauth = sn.auth().oauth();
    absl::StatusOr<std::string> resolved =
        config::ResolveSecret("servicenow.auth.oauth.client_secret", oauth.client_secret(),
                              oauth.client_secret_file(), secrets);
    if (!resolved.ok()) return resolved.status();
    client_secret = *std::move(resolved);
    if (oauth.grant_type() == v1::ServiceNowOAuth::GRANT_TYPE_PASSWORD) {
      resolved = config::ResolveSecret("servicenow.auth.oauth.password", oauth.password(),
                                       oauth.password_file(), secrets);
      if (!resolved.ok()) return resolved.status();
      password = *std::move(resolved);
    }
  }
  absl::StatusOr<std::unique_ptr<Authenticator>> authenticator =
      clients::servicenow::MakeAuthenticator(sn, password, client_secret, *pool->retrying_,
                                             clients::RealClock());
  if (!authenticator.ok()) return authenticator.status();
  absl::StatusOr<std::shared_ptr<ServiceNowClient>> servicenow =
      MakeServiceNow(*pool->retrying_, *pool->curl_, *std::move(authenticator), sn.instance_url());
  if (!servicenow.ok()) return servicenow.status();
  pool->configured_servicenow_host_ = HostOf((*servicenow)->table->origin());

  const v1::OnspringConnection& os = config.onspring();
  absl::StatusOr<std::string> api_key =
      config::ResolveSecret("onspring.api_key", os.api_key(), os.api_key_file(), secrets);
  if (!api_key.ok()) return api_key.status();
  absl::StatusOr<std::unique_ptr<OnspringClient>> onspring = OnspringClient::Create(
      *pool->retrying_, *pool->curl_, {.base_url = os.base_url(), .api_key = *api_key});
  if (!onspring.ok()) return onspring.status();
  pool->configured_ = MakeUpstreams(*std::move(servicenow), *std::move(onspring),
                                    OnspringScope(os.base_url(), *api_key));
  return pool;
}

UpstreamPool::~UpstreamPool() { Shutdown(); }

void UpstreamPool::Shutdown() {
  if (curl_ != nullptr) curl_->Shutdown();
}

absl::StatusOr<engine::Upstreams> UpstreamPool::Configured() const {
  if (!configured_.has_value()) return absl::FailedPreconditionError(missing_);
  return *configured_;
}

absl::StatusOr<engine::Upstreams> UpstreamPool::ForCaller(
    const v1::CallerConnections& connections) const {
  absl::StatusOr<std::string> origin =
      clients::servicenow::InstanceOrigin(connections.servicenow_instance_url());
  if (!origin.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("connections.servicenow_instance_url: ", origin.status().message()));
  }
  const std::string host = HostOf(*origin);
  bool allowed = false;
  for (const std::string& entry : inline_sync_.allowed_servicenow_hosts()) {
    allowed = allowed || absl::EqualsIgnoreCase(entry, host);
  }
  if (!allowed) {
    return absl::PermissionDeniedError(
        absl::StrCat("ServiceNow host \"", host.substr(0, 253),
                     "\" is not in server.inline_sync.allowed_servicenow_hosts"));
  }
  if (!inline_sync_.pass_through_credentials()) {
    if (!configured_.has_value()) return absl::FailedPreconditionError(missing_);
    if (!absl::EqualsIgnoreCase(host, configured_servicenow_host_)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "ServiceNow host \"", host,
          "\" is not the configured instance, and server.inline_sync.pass_through_credentials "
          "is off"));
    }
    return *configured_;
  }
  if (absl::StripAsciiWhitespace(connections.servicenow_authorization()).empty()) {
    return absl::InvalidArgumentError("connections.servicenow_authorization is required");
  }
  if (absl::StripAsciiWhitespace(connections.onspring_api_key()).empty()) {
    return absl::InvalidArgumentError("connections.onspring_api_key is required");
  }
  if (onspring_base_url_.empty()) {
    return absl::FailedPreconditionError(
        "no onspring.base_url is configured for callers' API keys");
  }
  // Exact values, NUL-separated (none of them can hold a NUL): never a hash, whose collision
  // would hand one caller another's clients.
  std::string cache_key =
      absl::StrCat(*origin, absl::string_view("\0", 1), connections.servicenow_authorization(),
                   absl::string_view("\0", 1), connections.onspring_api_key());
  if (std::optional<engine::Upstreams> cached = caller_upstreams_.Get(cache_key)) {
    return *std::move(cached);
  }
  absl::StatusOr<std::shared_ptr<ServiceNowClient>> servicenow =
      MakeServiceNow(*retrying_, *curl_,
                     clients::servicenow::BasicAuthenticator::FromHeaderValue(
                         connections.servicenow_authorization()),
                     *origin);
  if (!servicenow.ok()) return servicenow.status();
  absl::StatusOr<std::unique_ptr<OnspringClient>> onspring = OnspringClient::Create(
      *retrying_, *curl_,
      {.base_url = onspring_base_url_, .api_key = connections.onspring_api_key()});
  if (!onspring.ok()) return onspring.status();
  engine::Upstreams upstreams =
      MakeUpstreams(*std::move(servicenow), *std::move(onspring),
                    OnspringScope(onspring_base_url_, connections.onspring_api_key()));
  caller_upstreams_.Put(cache_key, upstreams);
  return upstreams;
}

}  // namespace onsync::server
