// The fake ServiceNow: the Table API (list, get, create, update, delete under /api/now/table,
// /api/now/v1/table and /api/now/v2/table), the Aggregate API's count, and OAuth tokens from
// POST /oauth_token.do, behaving as servicenow-api.md §1, §3 and §8 describe (encoded queries
// with dropped unknown terms, dot-walked sysparm_fields, display values and reference shapes,
// Link and X-Total-Count paging headers, the real error bodies).
//
// Seed (the "servicenow" member of a seed file): the tables (see servicenow_store.h) plus
//   "users": [{"user_name": "admin", "password": "sandbox"}],
//   "oauth_clients": [{"client_id": "...", "client_secret": "...", "user": "admin"}],
//   "access_token_lifetime_s": 1800, "refresh_token_lifetime_s": 8640000,
//   "case_sensitive": false, "invalid_query_returns_no_rows": false.
//
// Thread safety: Handle, Reset and the accessors are thread-safe (one mutex; handling is short
// and never blocks on I/O).
#ifndef ONSYNC_TESTS_SANDBOX_SERVICENOW_FAKE_H_
#define ONSYNC_TESTS_SANDBOX_SERVICENOW_FAKE_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/http_server.h"
#include "rapidjson/document.h"
#include "tests/sandbox/fake_result.h"
#include "tests/sandbox/servicenow_store.h"

namespace onsync::sandbox {

class ServiceNowFake {
 public:
  // Errors: INVALID_ARGUMENT for a malformed seed.
  static absl::StatusOr<std::unique_ptr<ServiceNowFake>> Create(const rapidjson::Value& seed);

  // The absolute origin ("http://127.0.0.1:PORT") used in Link headers and reference links.
  void SetOrigin(std::string origin);

  // Handles one request (admin routes are the sandbox's business). Never blocks.
  FakeResult Handle(const http::Request& request);

  // Replaces data, users, clients and settings with the seed's; forgets every token.
  absl::Status Reset(const rapidjson::Value& seed);

  // Makes every access token issued so far expire now (refresh tokens stay valid).
  void ExpireAccessTokens();

  // The normalised route of a request (the call-count key), e.g.
  // "GET /api/now/table/cmdb_ci_business_app" or "GET /api/now/table/sys_user/{sys_id}" (the
  // version prefix is left out), "POST /oauth_token.do".
  static std::string RouteOf(std::string_view method, std::string_view path);

  // The response a fault injector sends instead of handling: ServiceNow's error body for
  // `status` (429 with the rate-limit body and X-RateLimit-* headers; 401 with the real
  // "User Not Authenticated" body and WWW-Authenticate; 500 with the quota-cancel message), or
  // an HTML page. `retry_after_s` > 0 adds Retry-After.
  static http::Response FaultResponse(int status, bool html, int64_t retry_after_s);

  // {"error":{"message":...,"detail":...},"status":"failure"}; a null detail when `detail` is
  // nullptr.
  static std::string ErrorBody(std::string_view message, const char* detail);

 private:
  struct Settings {
    std::map<std::string, std::string> users;  // user_name -> password
    struct Client {
      std::string secret;
      std::string user;  // the OAuth application user (client_credentials)
    };
    std::map<std::string, Client> clients;
    absl::Duration access_token_lifetime = absl::Seconds(1800);
    absl::Duration refresh_token_lifetime = absl::Seconds(8640000);
    bool case_sensitive = false;
    bool invalid_query_returns_no_rows = false;
  };
  struct Token {
    std::string user;
    std::string client_id;
    std::string grant;  // "password", "client_credentials", "refresh_token"
    std::string refresh_token;
    absl::Time expiry;
  };
  struct RefreshToken {
    std::string user;
    std::string client_id;
    absl::Time expiry;
  };

  ServiceNowFake() = default;
  static absl::StatusOr<Settings> ParseSettings(const rapidjson::Value& seed);

  FakeResult HandleToken(const http::Request& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The authenticated user, or nullopt (the caller answers 401).
  std::optional<std::string> Authenticate(const http::Request& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response HandleTable(const http::Request& request, std::string_view method,
                             std::string_view version, std::string_view table_name,
                             std::string_view sys_id, const std::string& user)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response HandleStats(const http::Request& request, std::string_view table_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewToken() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::string origin_ ABSL_GUARDED_BY(mu_) = "http://127.0.0.1";
  Settings settings_ ABSL_GUARDED_BY(mu_);
  SnStore store_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Token> tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RefreshToken> refresh_tokens_ ABSL_GUARDED_BY(mu_);
  uint64_t transaction_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t token_state_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_SERVICENOW_FAKE_H_
