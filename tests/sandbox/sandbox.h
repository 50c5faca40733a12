// onsync's sandbox: a fake ServiceNow and a fake Onspring in one process, each on its own HTTP
// listener (onsync::http::Server), with a request log, call counts, fault injection, an admin
// API under /__admin/ and Onspring's REST API outcome simulated against a configurable URL.
// Every test, demo and benchmark of onsync runs against it; tests use it in-process through
// this class, scripts through the `onsync-sandbox` binary (main.cc). README.md has the details.
//
// Lifecycle: Start binds both listeners and loads the seed (the built-in default, a file, or
// text); Shutdown (also run by the destructor) stops the listeners, cancels outcome runs in
// flight and joins every thread.
//
// Thread safety: every public method is thread-safe. Requests are served on the listeners' I/O
// threads; injected latency is applied with a timer thread, never by sleeping on an I/O thread.
#ifndef ONSYNC_TESTS_SANDBOX_SANDBOX_H_
#define ONSYNC_TESTS_SANDBOX_SANDBOX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "common/http_server.h"
#include "rapidjson/document.h"
#include "tests/sandbox/faults.h"
#include "tests/sandbox/onspring_fake.h"
#include "tests/sandbox/outcome_simulator.h"
#include "tests/sandbox/request_log.h"
#include "tests/sandbox/servicenow_fake.h"
#include "tests/sandbox/timer.h"

namespace onsync::sandbox {

struct SandboxOptions {
  // "host:port"; port 0 picks a free one. Non-loopback hosts are refused unless
  // `allow_non_loopback` (the fakes accept fixed, published credentials).
  std::string servicenow_listen = "127.0.0.1:0";
  std::string onspring_listen = "127.0.0.1:0";
  bool allow_non_loopback = false;
  // The seed: `seed_json` (text) if set, else `seed_file` if set, else the built-in default
  // (the same text as tests/sandbox/seed/default.json).
  std::string seed_file;
  std::string seed_json;
  // Added to both fakes' startup latency.
  absl::Duration latency;
  // Base URL substituted for {{outcome_url}} in outcomes (the default seed posts to
  // "<outcome_url>/sync"). Empty: such outcomes are configured but skipped.
  std::string outcome_url;
  // Faults in force from the start (and restored by a reset).
  FaultConfig servicenow_faults;
  FaultConfig onspring_faults;
  // Sends outcome requests. Null: a CurlTransport owned by the sandbox. A given transport must
  // complete every callback before Shutdown returns.
  std::shared_ptr<clients::HttpTransport> outcome_transport;
  // Overrides the seed's ServiceNow access-token lifetime (tests of token expiry).
  std::optional<absl::Duration> access_token_lifetime;
  int threads = 2;  // I/O threads per listener
};

class Sandbox {
 public:
  // Errors: INVALID_ARGUMENT (bad address, non-loopback address, malformed seed: the message
  // names the seed member), NOT_FOUND (seed file missing), UNAVAILABLE (cannot bind).
  static absl::StatusOr<std::unique_ptr<Sandbox>> Start(SandboxOptions options);

  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox();  // Shutdown()

  int servicenow_port() const { return servicenow_port_; }
  int onspring_port() const { return onspring_port_; }
  // "http://127.0.0.1:PORT" (the loopback address for wildcard listeners).
  const std::string& servicenow_url() const { return servicenow_url_; }
  const std::string& onspring_url() const { return onspring_url_; }

  // Idempotent; blocks until the listeners are closed and the threads joined.
  void Shutdown();

  // Data and outcomes back to the seed, faults back to the startup faults, request log, counters
  // and outcome runs cleared, ServiceNow tokens forgotten.
  absl::Status Reset();

  RequestLog& request_log() { return request_log_; }
  int64_t CallCount(FakeKind fake, std::string_view route) const {
    return request_log_.Count(fake, route);
  }

  FaultConfig GetFaults(FakeKind fake) const;
  void SetFaults(FakeKind fake, FaultConfig config);

  ServiceNowFake& servicenow() { return *servicenow_; }
  OnspringFake& onspring() { return *onspring_; }
  OutcomeSimulator& outcomes() { return *outcomes_; }

  // Parses an outcome (README.md "Outcomes") against the current Onspring data and adds it.
  absl::StatusOr<int64_t> AddOutcome(std::string_view json);

  // The built-in seed's text.
  static std::string_view DefaultSeed();

 private:
  explicit Sandbox(SandboxOptions options);

  absl::Status LoadSeed(const rapidjson::Value& seed);
  void Serve(FakeKind fake, http::Request request, http::Respond respond);
  http::Response Admin(FakeKind fake, const http::Request& request);
  FaultInjector& injector(FakeKind fake) {
    return fake == FakeKind::kServiceNow ? servicenow_faults_ : onspring_faults_;
  }

  const SandboxOptions options_;
  rapidjson::Document seed_;  // immutable after Start

  RequestLog request_log_;
  FaultInjector servicenow_faults_;
  FaultInjector onspring_faults_;
  TimerThread timer_;
  std::shared_ptr<clients::HttpTransport> transport_;
  std::unique_ptr<ServiceNowFake> servicenow_;
  std::unique_ptr<OnspringFake> onspring_;
  std::unique_ptr<OutcomeSimulator> outcomes_;
  std::unique_ptr<http::Server> servicenow_server_;
  std::unique_ptr<http::Server> onspring_server_;
  int servicenow_port_ = 0;
  int onspring_port_ = 0;
  std::string servicenow_url_;
  std::string onspring_url_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_SANDBOX_H_
