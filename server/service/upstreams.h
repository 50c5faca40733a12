// The server's upstream connections: one HTTP transport (libcurl's multi interface behind the one
// retry policy) shared by every upstream client, the configured ServiceNow and Onspring clients,
// and clients for a caller's own connection (the PoC's `/sync`), as `server.inline_sync` allows.
//
// Caller connections: the ServiceNow URL must be an http(s) origin whose host is in
// `server.inline_sync.allowed_servicenow_hosts` (PERMISSION_DENIED otherwise: credentials are
// never sent to a host the operator did not list). With `pass_through_credentials` the caller's
// `Authorization` goes to that ServiceNow and its API key to the configured Onspring base URL;
// without it the configured connection is used, and the URL must name the configured instance.
//
// A caller's clients are kept for a while (kCallerClientsTtl, at most kMaxCallerClients sets),
// keyed by the exact instance, authorization and API key: repeated calls with the same
// credentials reuse them (and their connections) instead of building new ones.
//
// With a metrics registry, a MeteredTransport sits between libcurl and the retry policy, so that
// every attempt is counted (upstream_requests_total, upstream_request_duration_seconds).
//
// Thread safety: thread-safe. Shutdown may be called once, from any thread; afterwards every
// request completes at once with CANCELLED.
#ifndef ONSYNC_SERVER_SERVICE_UPSTREAMS_H_
#define ONSYNC_SERVER_SERVICE_UPSTREAMS_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/curl_transport.h"
#include "clients/http/metered_transport.h"
#include "clients/http/retrying_transport.h"
#include "onsync/v1/config.pb.h"
#include "onsync/v1/sync_service.pb.h"
#include "server/config/secrets.h"
#include "server/engine/sync_engine.h"
#include "server/engine/ttl_cache.h"

namespace onsync::server {

class UpstreamPool {
 public:
  static constexpr absl::Duration kCallerClientsTtl = absl::Minutes(5);
  static constexpr size_t kMaxCallerClients = 1000;

  // Resolves the configured secrets and builds the transport. Errors: those of ResolveSecret and
  // of the clients' Create (a bad URL), and of CurlTransport::Create. `metrics` (not owned; null:
  // no metering) must outlive the pool.
  static absl::StatusOr<std::unique_ptr<UpstreamPool>> Create(const onsync::v1::Config& config,
                                                              const config::SecretSource& secrets,
                                                              metrics::Registry* metrics = nullptr);

  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // The configured connection. FAILED_PRECONDITION naming what is missing when the config has
  // no `servicenow` or no `onspring` section.
  absl::StatusOr<engine::Upstreams> Configured() const;

  // A caller's connection, see above. INVALID_ARGUMENT for a malformed URL or a missing
  // credential; PERMISSION_DENIED for a host outside the allow-list.
  absl::StatusOr<engine::Upstreams> ForCaller(
      const onsync::v1::CallerConnections& connections) const;

  // Deadline of upstream calls whose caller set none (`upstream.request_timeout`, default 20s).
  absl::Duration default_timeout() const { return default_timeout_; }

  clients::RetryStats retry_stats() const { return retrying_->stats(); }

  // Cancels every request in flight (they complete with CANCELLED) and refuses new ones.
  void Shutdown();

 private:
  UpstreamPool() = default;

  std::unique_ptr<clients::CurlTransport> curl_;
  std::unique_ptr<clients::MeteredTransport> metered_;  // set with a metrics registry
  std::unique_ptr<clients::RetryingTransport> retrying_;
  onsync::v1::InlineSyncConfig inline_sync_;
  std::string onspring_base_url_;
  absl::Duration default_timeout_ = absl::Seconds(20);
  // Set when the config has the section.
  std::optional<engine::Upstreams> configured_;
  std::string configured_servicenow_host_;
  std::string missing_;  // What Configured() reports when configured_ is unset.
  // Callers' clients by exact connection (see above).
  mutable engine::TtlCache<engine::Upstreams> caller_upstreams_{
      clients::RealClock(), kCallerClientsTtl, kMaxCallerClients};
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_UPSTREAMS_H_
