// The sandbox's record of what clients sent: one entry per request to a fake (admin routes are
// not recorded), plus per-route call counts, so tests can assert what a client really did
// (percent-encoding, `^^`, sysparm_* parameters, PascalCase bodies, only-changed-field saves...).
//
// Secrets never enter the log: credential-bearing headers are masked (the scheme word of
// Authorization is kept), the OAuth token endpoint's form body is reduced to its grant_type,
// and only the kind of authentication is recorded (basic/bearer/apikey/none) with, for Basic,
// the user name.
//
// Thread safety: all methods are thread-safe.
#ifndef ONSYNC_TESTS_SANDBOX_REQUEST_LOG_H_
#define ONSYNC_TESTS_SANDBOX_REQUEST_LOG_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace onsync::sandbox {

enum class FakeKind { kServiceNow, kOnspring };

// "servicenow" or "onspring".
std::string_view FakeName(FakeKind fake);

struct RequestLogEntry {
  uint64_t sequence = 0;  // assigned by RequestLog::Add, from 1
  FakeKind fake = FakeKind::kServiceNow;
  absl::Time time;
  std::string method;
  std::string path;  // raw (not percent-decoded)
  std::string
      route;  // normalised route, the key of the call counts, e.g. "GET /Records/appId/{appId}"
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // lower-cased names, secrets masked
  std::string auth;  // "basic", "bearer", "apikey" or "none"
  std::string user;  // Basic user name (never a password, token or key)
  std::string body;  // request body (at most 64 KiB; reduced for the token endpoint)
  int status = 0;
  std::string fault;  // the injected fault, "" when none
  int64_t delay_ms = 0;
};

class RequestLog {
 public:
  explicit RequestLog(size_t capacity = 10000) : capacity_(capacity) {}

  void Add(RequestLogEntry entry);
  // Oldest first; `fake` = nullopt for both fakes.
  std::vector<RequestLogEntry> Entries(std::optional<FakeKind> fake = std::nullopt) const;
  // Calls per route (every call counted, even those dropped from the bounded entry list).
  std::map<std::string, int64_t> Counts(FakeKind fake) const;
  int64_t Count(FakeKind fake, std::string_view route) const;
  void Clear();

  // {"requests":[...], "counts":{"<route>": n, ...}, "total": n}.
  std::string ToJson(std::optional<FakeKind> fake) const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<RequestLogEntry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<FakeKind, std::string>, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

// The value to record for header `name`: masked for Authorization (scheme kept), Proxy-
// Authorization, Cookie, Set-Cookie, X-ApiKey, X-Api-Key and x-sn-apikey; `value` otherwise.
std::string MaskHeader(std::string_view name, std::string_view value);

// RFC 3339 UTC with microseconds, e.g. "2026-11-29T09:00:00.123456Z".
std::string FormatLogTime(absl::Time time);

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_REQUEST_LOG_H_
