// Durable jobs through the real binaries: onsync-server and onsync-gateway as child processes
// (tests/e2e/e2e_fixture.h) against the sandbox (in process), with the example config plus an
// async profile and a `jobs` section, a gRPC client on the generated stub, kill -9 and restart of
// the server on the same job store (and the same port, so the gateway keeps running), generated
// seeds, and readers of the sandbox's Onspring data and request log.
//
// Thread safety: one test thread uses a fixture, except where a method says otherwise.
#ifndef ONSYNC_TESTS_FAULT_JOBS_FIXTURE_H_
#define ONSYNC_TESTS_FAULT_JOBS_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {

inline constexpr char kAsyncProfile[] = "business_app_async";
inline constexpr char kSnAppsRoute[] = "GET /api/now/table/cmdb_ci_business_app";
inline constexpr char kPutRecords[] = "PUT /Records";

// The `jobs` section of the test config (the store's path is the server's --jobs_db).
struct JobsSettings {
  int workers = 8;
  int max_attempts = 0;  // 0: the server's default (8)
  std::string initial_backoff = "50ms";
  std::string max_backoff = "500ms";
  std::string lease = "2s";
};

// `example_yaml` (deploy/examples/business-app.yaml) with the profile `business_app_async` (mode
// async, the source, target, trigger and fields of business_app, through the example's anchors)
// appended to `profiles:`, and its top-level `jobs:` section (if any) replaced by `jobs`.
std::string AsyncConfigYaml(const std::string& example_yaml, const JobsSettings& jobs);

// One generated ServiceNow user (sys_user), in Onspring's Users app (100) or not.
struct GenUser {
  std::string sys_id;
  std::string name;       // "Gen07 Owner": first word / rest, as the create templates split it
  int64_t record_id = 0;  // in Onspring; 0 when missing there (a sync creates it)
};

// One generated cmdb_ci_business_app row.
struct GenApp {
  std::string sys_id;
  std::string name;    // "Gen App 0001"
  std::string number;  // "APM3000001": what Application Short Name (3002) must end up holding
  std::string updated_on;
  int owner = 0;  // it_application_owner, u_primary_it_owner, u_l3_name: indexes into users
  int it_owner = 0;
  int l3 = 0;
  int64_t record_id = 0;  // its Business Applications record (app 300); 0 when none
};

struct GenSeed {
  std::vector<GenUser> users;
  std::vector<GenApp> apps;
  std::string json;  // the default seed plus the above
};

struct GenSeedOptions {
  int apps = 500;
  int users = 60;
  int users_in_onspring = 20;       // the first ones; the others are created by syncs
  int apps_per_second = 1;          // rows sharing one sys_updated_on second
  bool targets_in_onspring = true;  // a Business Applications record per app (Name only)
  uint64_t random_seed = 20240601;
};

// The default seed plus generated users and apps: owners are drawn at random from the users, so
// many apps share owners, and the missing ones are created by racing syncs.
GenSeed MakeGenSeed(const GenSeedOptions& options);

// One Onspring record as the API reads it (Raw): field id -> the JSON text of the value.
struct OsRecord {
  int64_t record_id = 0;
  std::map<int, std::string> fields;
};

// A JSON string literal of `text`.
std::string Quoted(const std::string& text);

// A proto Timestamp as absl::Time (InfinitePast when unset).
absl::Time TimeOf(const google::protobuf::Timestamp& timestamp);

// "JOB_STATE_SUCCEEDED" -> "SUCCEEDED".
std::string StateName(onsync::v1::JobState state);

// Joins the threads when it goes out of scope (also on a failed ASSERT), after setting `stop`.
class JoinOnExit {
 public:
  JoinOnExit(std::vector<std::thread>& threads, std::atomic<bool>& stop)
      : threads_(threads), stop_(stop) {}
  ~JoinOnExit() {
    stop_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  std::vector<std::thread>& threads_;
  std::atomic<bool>& stop_;
};

// Every user named in `seed`'s apps has exactly one Onspring user record (the ones already in
// Onspring keep their id), and no full name appears twice (test failures otherwise). Returns
// name -> record id.
std::map<std::string, int64_t> ExpectUsersOnce(const std::vector<OsRecord>& users,
                                               const GenSeed& seed);

// Every generated app has exactly one Business Applications record, holding the row's values.
// Returns the number of apps whose record is wrong or missing (each a test failure).
int ExpectAppRecords(const std::vector<OsRecord>& records, const GenSeed& seed,
                     const std::map<std::string, int64_t>& user_ids);

class JobsE2eTest : public E2eTest {
 protected:
  void TearDown() override;

  // The sandbox with `seed_json` (empty: the default seed) and `latency` on both fakes.
  void StartSandbox(const std::string& seed_json = "",
                    absl::Duration latency = absl::ZeroDuration());
  // Config (AsyncConfigYaml plus the sandbox's connections), a server on a fresh job store, the
  // gateway, and the gRPC client. Call ASSERT_NO_FATAL_FAILURE on it.
  void StartStack(const JobsSettings& jobs = {});
  // kill -9 the server and reap it (its stderr is kept for failure reports).
  void KillServer();
  // A new server process on the same job store and port; a fresh gRPC client.
  void RestartServer();
  // A fresh channel and stub to the server, connected.
  void RestartClient();

  sandbox::Sandbox& box() { return *sandbox_; }

  // gRPC calls on the generated stub, each with a 10 s deadline. Thread-safe, but not while
  // RestartServer replaces the stub.
  grpc::Status Enqueue(const std::string& profile, const std::string& key, onsync::v1::Job* job,
                       bool* deduplicated = nullptr);
  absl::StatusOr<onsync::v1::Job> GetJob(const std::string& id);
  // Every job matching `request` (all pages of at most 500).
  absl::StatusOr<std::vector<onsync::v1::Job>> ListAllJobs(onsync::v1::ListJobsRequest request);
  grpc::Status CancelJob(const std::string& id, onsync::v1::Job* job = nullptr);
  grpc::Status RetryJob(const std::string& id, onsync::v1::Job* job = nullptr);
  grpc::Status StartBatch(const std::string& profile, onsync::v1::Job* job);
  onsync::v1::SyncService::Stub& stub() { return *stub_; }

  // Polls GetJob every `every` until `done(job)` or `timeout`; returns the last job read (a test
  // failure when it never got done). Every job read is appended to `seen` when given.
  onsync::v1::Job WaitForJob(const std::string& id,
                             const std::function<bool(const onsync::v1::Job&)>& done,
                             absl::Duration timeout, absl::Duration every = absl::Milliseconds(20),
                             std::vector<onsync::v1::Job>* seen = nullptr);
  onsync::v1::Job WaitForState(const std::string& id, onsync::v1::JobState state,
                               absl::Duration timeout);

  // POST /v1/outcomes/{profile} through the gateway. Thread-safe.
  absl::StatusOr<HttpResult> PostOutcome(const std::string& profile, const std::string& body);
  // A call to the gateway. Thread-safe.
  HttpResult Gateway(std::string_view method, const std::string& target,
                     const std::string& body = "");

  // A call to the sandbox's Onspring API with the API key.
  HttpResult Onspring(std::string_view method, const std::string& target,
                      const std::string& body = "");
  // Every record of `app_id` matching `filter` (all pages).
  std::vector<OsRecord> QueryAll(int app_id, const std::string& filter = "");
  OsRecord GetRecord(int app_id, int64_t record_id);
  struct ListRead {
    uint64_t sequence = 0;
    std::string query;     // sysparm_query
    std::string offset;    // sysparm_offset
    bool counted = false;  // sysparm_no_count=false: a read that asks for X-Total-Count
  };
  // Every logged list read of cmdb_ci_business_app, oldest first.
  std::vector<ListRead> AppListReads();
  // The newest sequence number in the request log (0 when empty).
  uint64_t LastLogSequence();

  // The tails of the servers' (the killed one's too) and the gateway's stderr.
  std::string Stderrs() const;

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::vector<std::string> temp_files_;
  std::string config_path_;
  std::string killed_server_stderr_;
  bool server_killed_ = false;  // and not restarted
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<onsync::v1::SyncService::Stub> stub_;
};

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_FAULT_JOBS_FIXTURE_H_
