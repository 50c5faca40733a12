// Caller authentication for the gateway's routes: who may call onsync over HTTP.
//
// Methods (config.proto CallerAuth); any one that matches admits the request:
//   basic           `Authorization: Basic base64(username:password)`
//   api_key         the key in a named header (default `x-api-key`)
//   bearer          `Authorization: Bearer <token>`
//   signed_webhook  Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within
//                   `tolerance` of now, default 5m) and `webhook-signature` (space-separated
//                   `v1,<base64>` entries), HMAC-SHA256 of `<id>.<timestamp>.<body>` keyed by the
//                   secret (base64 after a `whsec_` prefix, else its raw bytes). An id admitted
//                   before, within the tolerance, is a replay and refused; Release forgets it, so
//                   that a delivery that failed on onsync's side can be retried by the sender.
// A route's methods: for `/v1/outcomes/{profile}`, the profile's `auth` when it has any; else
// `gateway.auth`. Secrets are resolved once, by Create, from files or the environment. Secrets
// are compared in constant time (SHA-256 digests compared with CRYPTO_memcmp, so that neither
// content nor length leaks), and only digests of static secrets are kept. A refusal is the same
// UNAUTHENTICATED "missing or invalid credentials" whatever part was wrong.
//
// Thread safety: Check, Release and Challenge may be called concurrently from any thread.
#ifndef ONSYNC_GATEWAY_AUTH_CALLER_AUTH_H_
#define ONSYNC_GATEWAY_AUTH_CALLER_AUTH_H_

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "onsync/v1/config.pb.h"
#include "server/config/secrets.h"

namespace onsync::gateway {

// What Check admitted; pass it to Release when the request failed on onsync's side.
struct Admission {
  // Set when a signed webhook admitted the request: the id remembered against replays.
  std::string replay_key;
};

class CallerAuth {
 public:
  // Webhook ids remembered at most; beyond it (after dropping expired ones) signed deliveries
  // are refused with UNAVAILABLE rather than admitted unchecked.
  static constexpr size_t kMaxRememberedWebhookIds = 200'000;

  // Resolves every secret of `config.gateway.auth` and of each profile's `auth`. Errors: those of
  // config::ResolveSecret (naming the key, never the value), INVALID_ARGUMENT for a webhook
  // secret that is not valid base64 after `whsec_`.
  static absl::StatusOr<std::unique_ptr<CallerAuth>> Create(const onsync::v1::Config& config,
                                                            const config::SecretSource& secrets);

  ~CallerAuth();
  CallerAuth(const CallerAuth&) = delete;
  CallerAuth& operator=(const CallerAuth&) = delete;

  // True when no route has any method: every route is open.
  bool open() const;

  // Admits `request` to the route of `profile` ("" for routes other than the outcome route) or
  // refuses it: UNAUTHENTICATED "missing or invalid credentials" (nothing more), UNAVAILABLE when
  // the replay memory is full. A route without methods admits everything.
  absl::StatusOr<Admission> Check(const http::Request& request, std::string_view profile,
                                  absl::Time now);

  // Forgets a signed delivery's id, so that the sender's retry is admitted.
  void Release(const Admission& admission);

  // The `WWW-Authenticate` value of a 401 on the route of `profile`: one challenge per method.
  std::string Challenge(std::string_view profile) const;

 private:
  struct Method;
  using Methods = std::vector<Method>;

  CallerAuth(Methods global, std::map<std::string, Methods, std::less<>> by_profile);
  // One configured method with its secret resolved; `path` is its config key path.
  static absl::StatusOr<Method> MakeMethod(const onsync::v1::CallerAuth& auth,
                                           const std::string& path,
                                           const config::SecretSource& secrets);
  const Methods& MethodsFor(std::string_view profile) const;
  // OK when `id` was not admitted within the tolerance (and remembers it until `expiry`).
  absl::Status Remember(std::string key, absl::Time now, absl::Time expiry);

  const std::unique_ptr<const Methods> global_;
  const std::map<std::string, Methods, std::less<>> by_profile_;

  std::mutex mu_;
  // Replay memory: key -> when it may be forgotten.
  absl::flat_hash_map<std::string, absl::Time> seen_webhooks_;
};

// Equal contents, compared in time that depends on neither (SHA-256 digests, CRYPTO_memcmp).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// The Standard Webhooks signature (`v1,<base64>`) of `body` for `id` and `timestamp` under the
// decoded `key`: what a sender puts in `webhook-signature`. For tests and tools.
std::string StandardWebhookSignature(std::string_view key, std::string_view id,
                                     std::string_view timestamp, std::string_view body);

// The HMAC key of a configured webhook secret: base64-decoded after `whsec_`, else the raw
// bytes. INVALID_ARGUMENT for bad base64 after the prefix.
absl::StatusOr<std::string> WebhookKeyFromSecret(std::string_view secret);

}  // namespace onsync::gateway

#endif  // ONSYNC_GATEWAY_AUTH_CALLER_AUTH_H_
