// How the ServiceNow client authenticates: an `Authorization` header value per request.
//
// Authenticator is the seam TableClient calls before every request; BasicAuthenticator sends fixed
// Basic credentials, OAuthAuthenticator fetches Bearer tokens from `POST {instance}/oauth_token.do`
// (servicenow-api.md §3.2) and keeps them fresh:
//   - a token is reused until 60 s before it expires, then a new one is fetched (with
//     `grant_type=refresh_token` when a refresh token was issued, falling back to the configured
//     grant if the refresh is refused);
//   - concurrent callers share one in-flight token request (single-flight);
//   - after a 401 the client calls Invalidate(header) and retries once with a fresh token;
//   - token-endpoint refusals (400/401/403, `{"error", "error_description"}`) become
//     UNAUTHENTICATED with the description; other failures keep StatusFromHttp's code.
// Every secret (password, client secret, Basic header, tokens) is registered with
// Redactor::Global() and never appears in a Status message.
//
// Thread safety: all methods are thread-safe. Authorize's `done` runs exactly once, either inline
// (credentials at hand) or on a transport thread (after a token request); it must not block.
// An Authenticator must outlive every call made through it, including pending callbacks.
#ifndef ONSYNC_CLIENTS_SERVICENOW_AUTH_H_
#define ONSYNC_CLIENTS_SERVICENOW_AUTH_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"

namespace onsync::v1 {
class ServiceNowConnection;
}  // namespace onsync::v1

namespace onsync::clients::servicenow {

class Authenticator {
 public:
  // Receives the complete `Authorization` header value (`Basic …`, `Bearer …`).
  using Callback = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;

  virtual ~Authenticator() = default;

  // Produces credentials for one request that must be sent before `deadline`. (OAuth's token
  // request runs with its own timeout, since it serves every caller waiting on it.)
  virtual void Authorize(absl::Time deadline, Callback done) = 0;

  // Reports that `header_value` (from Authorize) was refused with a 401: credentials equal to it
  // are not handed out again. Stale reports (an older header) are ignored.
  virtual void Invalidate(std::string_view header_value) = 0;

  // True when Invalidate can lead to different credentials (OAuth): only then does a client retry
  // a request that got a 401.
  virtual bool CanRefresh() const = 0;
};

// Fixed `Authorization: Basic base64(username:password)`.
class BasicAuthenticator final : public Authenticator {
 public:
  BasicAuthenticator(std::string_view username, std::string_view password);

  // Uses a caller-supplied header value as-is (the PoC's `/sync` route forwards the caller's
  // `Authorization: Basic …` to ServiceNow). The value is registered as a secret.
  static std::unique_ptr<BasicAuthenticator> FromHeaderValue(std::string header_value);

  void Authorize(absl::Time deadline, Callback done) override;
  void Invalidate(std::string_view header_value) override {}
  bool CanRefresh() const override { return false; }

 private:
  struct FromHeaderTag {};
  BasicAuthenticator(FromHeaderTag, std::string header_value);

  const std::string header_value_;
};

struct OAuthOptions {
  enum class Grant { kPassword, kClientCredentials };

  // The instance origin, e.g. `https://acme.service-now.com` (a trailing '/' is ignored).
  std::string instance_url;
  Grant grant = Grant::kClientCredentials;
  std::string client_id;
  std::string client_secret;
  // For kPassword.
  std::string username;
  std::string password;
  // A token is replaced this long before it expires.
  absl::Duration refresh_margin = absl::Seconds(60);
  // Deadline of one token request (it serves every waiting caller, so it is not tied to the
  // deadline of the caller that happened to start it).
  absl::Duration token_request_timeout = absl::Seconds(30);
};

class OAuthAuthenticator final : public Authenticator {
 public:
  // INVALID_ARGUMENT when the options are incomplete (no client id/secret, no username/password
  // for the password grant, instance_url not an http(s) origin).
  static absl::StatusOr<std::unique_ptr<OAuthAuthenticator>> Create(HttpTransport& transport,
                                                                    const Clock& clock,
                                                                    OAuthOptions options);

  void Authorize(absl::Time deadline, Callback done) override;
  void Invalidate(std::string_view header_value) override;
  bool CanRefresh() const override { return true; }

 private:
  OAuthAuthenticator(HttpTransport& transport, const Clock& clock, OAuthOptions options,
                     std::string token_url);

  // Starts a token request; `use_refresh` picks grant_type=refresh_token.
  void Fetch(bool use_refresh);
  void OnTokenResponse(bool used_refresh, absl::StatusOr<HttpResponse> response);
  void Finish(absl::StatusOr<std::string> header);

  HttpTransport& transport_;
  const Clock& clock_;
  const OAuthOptions options_;
  const std::string token_url_;

  absl::Mutex mu_;
  std::string header_ ABSL_GUARDED_BY(mu_);  // "Bearer …", empty when none
  absl::Time expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string refresh_token_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Callback> waiters_ ABSL_GUARDED_BY(mu_);
};

// Builds the authenticator that `connection.auth()` describes. Secrets are passed resolved (the
// server's config layer reads `*_file` / `${ENV}`): `password` for Basic and the OAuth password
// grant, `client_secret` for OAuth. INVALID_ARGUMENT when the method is missing or incomplete.
absl::StatusOr<std::unique_ptr<Authenticator>> MakeAuthenticator(
    const onsync::v1::ServiceNowConnection& connection, std::string_view password,
    std::string_view client_secret, HttpTransport& transport, const Clock& clock);

}  // namespace onsync::clients::servicenow

#endif  // ONSYNC_CLIENTS_SERVICENOW_AUTH_H_
