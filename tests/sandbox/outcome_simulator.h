// Simulates Onspring's "REST API" trigger outcome (onspring-api.md §7, poc-outcome.md): when a
// record saved through the fake Onspring API meets an outcome's rule ("field F changed to V"),
// the simulator renders the request (URL, headers and raw body with {:Field Name} tokens), sends
// it asynchronously through an HttpTransport with the configured auth, retries and a 30 s
// timeout, and applies the outcome's Data Mapping (response key -> field) to that record. Saves
// made by the mapping do not fire outcomes again (the outcome's "Direct Save only"). Every run
// is logged for assertions.
//
// Outcome configuration (JSON; the seed's "onspring.outcomes" array and POST /__admin/outcomes):
//   {"name": "Sync with ServiceNow", "appId": 300, "status": "Active",
//    "trigger": {"field": "Sync with ServiceNow", "changedTo": "Yes"},   (or "fieldId": 3011)
//    "method": "POST", "url": "{{outcome_url}}/sync",
//    "headers": [{"name": "x-apikey", "value": "sandbox-key"}],
//    "auth": {"type": "basic", "username": "admin", "password": "sandbox"},
//            (or {"type": "api_key", "header": "x-api-key", "value": "..."}, or {"type": "none"})
//    "body": "{\"appName\": \"{:Name}\"}", "bodyEscaping": "json",
//    "useListValueGuid": false, "retries": 0, "retryDelayMs": 1000, "timeoutMs": 30000,
//    "dataMapping": [{"source": "appName", "field": "Name"}, {"source": "l3", "fieldId": 3008}]}
// Placeholders {{outcome_url}}, {{servicenow_url}} and {{onspring_url}} are replaced by the
// sandbox's values when a run starts; an outcome whose URL needs {{outcome_url}} while none is
// configured is skipped (the run is logged with state "skipped").
//
// Rendering choices (the real product's are unknown): a token renders the field's value as plain
// text (list values by name, or GUID with useListValueGuid; references as the referenced
// records' titles; dates YYYY-MM-DDTHH:MM:SSZ; multi values joined with ", "); in the body the
// text is JSON-escaped (without adding quotes) unless "bodyEscaping" is "none"; in the URL it is
// percent-encoded; in headers it is inserted as is. Unknown tokens render as "". A body gets
// "Content-Type: application/json" unless a header sets one. A run is retried after a transport
// error or a non-2xx status, `retries` times, `retryDelayMs` apart; the mapping is applied only
// after a 2xx response whose body is a JSON object (keys missing from it are left alone and
// noted in the run's errors).
//
// Thread safety: all methods are thread-safe. OnRecordSaved is called under the Onspring fake's
// lock and takes only the simulator's own lock (lock order: fake, then simulator).
#ifndef ONSYNC_TESTS_SANDBOX_OUTCOME_SIMULATOR_H_
#define ONSYNC_TESTS_SANDBOX_OUTCOME_SIMULATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"
#include "rapidjson/document.h"
#include "tests/sandbox/onspring_fake.h"

namespace onsync::sandbox {

struct OutcomeConfig {
  int64_t id = 0;  // assigned when added
  std::string name;
  int64_t app_id = 0;
  bool active = true;
  int64_t trigger_field_id = 0;
  std::string trigger_value;  // "changed to": list value name or text
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string auth_type = "none";  // none, api_key, basic
  std::string auth_header = "x-api-key";
  std::string auth_value;
  std::string auth_username;
  std::string auth_password;
  std::string body;
  bool json_escape_body = true;
  bool use_list_value_guid = false;
  int retries = 0;
  absl::Duration retry_delay = absl::Seconds(1);
  absl::Duration timeout = absl::Seconds(30);
  std::vector<std::pair<std::string, int64_t>> mapping;  // response key -> field id
};

// Parses one outcome, resolving field names against `store`. Errors: INVALID_ARGUMENT naming
// the member.
absl::StatusOr<OutcomeConfig> ParseOutcomeConfig(const rapidjson::Value& json,
                                                 const OsStore& store);

struct OutcomeRun {
  int64_t id = 0;
  int64_t outcome_id = 0;
  std::string outcome_name;
  int64_t app_id = 0;
  int64_t record_id = 0;
  std::string state;  // "skipped", "running", "succeeded", "failed"
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // credentials masked
  std::string body;
  int attempts = 0;
  int status = 0;             // of the last response, 0 if none
  std::string response_body;  // first 4 KiB
  std::vector<MappedField> mapped;
  std::vector<std::string> errors;
  absl::Time started;
  absl::Time finished;
};

// Values for the {{...}} placeholders.
struct OutcomeSubstitutions {
  std::string outcome_url;  // "" = outcomes that need it are skipped
  std::string servicenow_url;
  std::string onspring_url;
};

class OutcomeSimulator final : public SaveListener {
 public:
  // `transport` sends the requests (may be null: runs then fail with "no transport");
  // `scheduler` delays retries; `fake` receives the mappings. None is owned; all must outlive
  // the simulator's last run (see Shutdown).
  OutcomeSimulator(clients::HttpTransport* transport, clients::Scheduler* scheduler,
                   OnspringFake* fake);

  void SetSubstitutions(OutcomeSubstitutions substitutions);

  // Replaces every outcome (and forgets the runs).
  void Reset(std::vector<OutcomeConfig> outcomes);
  // Adds one; returns its id.
  int64_t Add(OutcomeConfig outcome);

  absl::AnyInvocable<void() &&> OnRecordSaved(const OsStore& store, const OsApp& app,
                                              const OsRecord* before,
                                              const OsRecord& after) override;

  std::vector<OutcomeRun> Runs() const;
  std::vector<OutcomeConfig> Outcomes() const;
  // {"outcomes": [...], "runs": [...]}.
  std::string ToJson() const;

  // Waits until at least `count` runs have finished (any state but "running").
  bool WaitForFinishedRuns(size_t count, absl::Duration timeout) const;

  // From now on new triggers are logged as skipped and pending retries give up.
  void BeginShutdown();
  // Waits up to `timeout` for runs in flight to finish; false if some are still running.
  bool WaitIdle(absl::Duration timeout);

 private:
  struct Pending {
    OutcomeConfig config;
    int64_t run_id = 0;
    int64_t record_id = 0;
    clients::HttpRequest request;
  };

  void Send(std::shared_ptr<Pending> pending);
  void OnResponse(std::shared_ptr<Pending> pending, absl::StatusOr<clients::HttpResponse> response);
  void Finish(int64_t run_id, const std::string& state, std::vector<MappedField> mapped,
              std::vector<std::string> errors);
  OutcomeRun* FindRun(int64_t run_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  clients::HttpTransport* const transport_;
  clients::Scheduler* const scheduler_;
  OnspringFake* const fake_;

  mutable absl::Mutex mu_;
  OutcomeSubstitutions substitutions_ ABSL_GUARDED_BY(mu_);
  std::vector<OutcomeConfig> outcomes_ ABSL_GUARDED_BY(mu_);
  int64_t next_outcome_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::deque<OutcomeRun> runs_ ABSL_GUARDED_BY(mu_);
  int64_t next_run_id_ ABSL_GUARDED_BY(mu_) = 1;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_OUTCOME_SIMULATOR_H_
