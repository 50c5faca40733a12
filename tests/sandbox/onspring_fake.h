// The fake Onspring API v2 (onspring-api.md §1-§8): X-ApiKey auth (401 with an empty body;
// /Ping needs no key; per-key app permissions -> 403 {"message"}), case-insensitive paths,
// query-parameter names and JSON property names, enums as names or integers; apps, fields
// (list/reference/formula shapes), list items, records (get, get by app, batch-get, query with
// the §5 filter language, save with validation and partial merge, delete, batch-delete) and the
// §3 paging envelope.
//
// Saves through the API notify a SaveListener (the outcome simulator); saves made by
// ApplyMapping (an outcome's Data Mapping) do not, like an outcome's "Direct Save only".
//
// Seed (the "onspring" member of a seed file): the store's (see onspring_store.h) plus
//   "api_keys": [{"key": "sandbox-key"},
//                {"key": "...", "read_only": true, "apps": [100, 200]}],
//   "case_sensitive": false.
//
// Thread safety: all methods are thread-safe (one mutex; handling never blocks on I/O).
#ifndef ONSYNC_TESTS_SANDBOX_ONSPRING_FAKE_H_
#define ONSYNC_TESTS_SANDBOX_ONSPRING_FAKE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/http_server.h"
#include "rapidjson/document.h"
#include "tests/sandbox/fake_result.h"
#include "tests/sandbox/onspring_store.h"

namespace onsync::sandbox {

// Told about every record saved through the API.
class SaveListener {
 public:
  virtual ~SaveListener() = default;
  // Called with the fake's lock held, so `store` and the records are stable: must not call back
  // into the fake. `before` is nullptr for a create. Returns work to run once the lock is
  // released (may be empty).
  virtual absl::AnyInvocable<void() &&> OnRecordSaved(const OsStore& store, const OsApp& app,
                                                      const OsRecord* before,
                                                      const OsRecord& after) = 0;
};

// One applied Data Mapping row.
struct MappedField {
  std::string source;
  int64_t field_id = 0;
  std::string value;  // as rendered text
};

struct MappingResult {
  std::vector<MappedField> mapped;
  std::vector<std::string> errors;  // rows that could not be applied, and why
};

class OnspringFake {
 public:
  static absl::StatusOr<std::unique_ptr<OnspringFake>> Create(const rapidjson::Value& seed);

  // The absolute origin used in app hrefs.
  void SetOrigin(std::string origin);
  // Not owned; may be null. Set before serving.
  void SetSaveListener(SaveListener* listener);

  FakeResult Handle(const http::Request& request);

  absl::Status Reset(const rapidjson::Value& seed);

  // Applies an outcome's Data Mapping (`rows`: response key -> field id) from `response` to a
  // record, as one save that does not notify the listener. A record deleted meanwhile ->
  // NOT_FOUND.
  absl::StatusOr<MappingResult> ApplyMapping(
      int64_t app_id, int64_t record_id, const rapidjson::Value& response,
      const std::vector<std::pair<std::string, int64_t>>& rows);

  // Runs `fn` with the store locked (tests and the outcome simulator's rendering).
  void WithStore(const std::function<void(const OsStore&)>& fn) const;

  static std::string RouteOf(std::string_view method, std::string_view path);

  // The response a fault injector sends instead of handling: 401 with an empty body; others
  // {"message": "..."}; or an HTML page. `retry_after_s` > 0 adds Retry-After (429/503).
  static http::Response FaultResponse(int status, bool html, int64_t retry_after_s);

 private:
  struct ApiKey {
    bool read_only = false;
    std::optional<std::set<int64_t>> apps;  // nullopt = every app
  };

  OnspringFake() = default;

  std::optional<http::Response> CheckAccess(const ApiKey& key, int64_t app_id, bool write) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response Route(const http::Request& request, const ApiKey& key,
                       absl::AnyInvocable<void() &&>* after) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  http::Response SaveRecord(const http::Request& request, const ApiKey& key,
                            absl::AnyInvocable<void() &&>* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::string origin_ ABSL_GUARDED_BY(mu_) = "http://127.0.0.1";
  OsStore store_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ApiKey> keys_ ABSL_GUARDED_BY(mu_);
  bool case_sensitive_ ABSL_GUARDED_BY(mu_) = false;
  SaveListener* listener_ = nullptr;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_ONSPRING_FAKE_H_
