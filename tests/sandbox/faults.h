// Fault injection for one fake: added latency on every response, "fail the next N calls" with a
// chosen status (429 carries Retry-After; the body is the fake's JSON error or an HTML page),
// restricted to paths containing a substring if asked, and "slow bodies".
//
// Slow bodies are emulated: the HTTP core writes a response in one piece and cannot drip bytes,
// so `slow_body` is added to the delay before the (whole) response is written. A client's
// timeout still fires; a client that measures time-to-first-byte separately cannot tell.
//
// Thread safety: FaultInjector is thread-safe.
#ifndef ONSYNC_TESTS_SANDBOX_FAULTS_H_
#define ONSYNC_TESTS_SANDBOX_FAULTS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace onsync::sandbox {

struct FaultConfig {
  absl::Duration latency;    // added to every response of the fake
  absl::Duration slow_body;  // emulated slow body: more delay before the whole response
  // The next `fail_next` eligible requests fail (-1: every eligible request, until changed).
  int64_t fail_next = 0;
  int fail_status = 503;
  // "json": the fake's own error body for the status; "html": an HTML page; "truncated": the
  // request is handled normally, then answered with `fail_status` and the first half of the real
  // body (a response cancelled mid-stream, e.g. ServiceNow's quota cancel arriving as a 200).
  std::string fail_body = "json";
  int64_t retry_after_s = 1;  // Retry-After on 429 and 503 fault responses (0: none)
  std::string fail_path;      // only paths containing this (case-insensitive); "" = all

  bool operator==(const FaultConfig&) const = default;
};

// Parses the body of POST /__admin/faults (the "target" member is the caller's business):
// {"latency_ms", "slow_body_ms", "fail_next", "fail_status", "fail_body", "retry_after_s",
// "fail_path"}; missing members take FaultConfig's defaults. Wrong types or values ->
// INVALID_ARGUMENT naming the member.
absl::StatusOr<FaultConfig> ParseFaultConfig(const rapidjson::Value& json);
std::string FaultConfigToJson(const FaultConfig& config);

struct FaultDecision {
  absl::Duration delay;  // latency + slow body
  bool fail = false;     // answer with the fault response below instead of handling
  int status = 0;
  bool html = false;
  bool truncated = false;
  int64_t retry_after_s = 0;
  std::string name;  // e.g. "fail_next:429", "" when not failing
};

class FaultInjector {
 public:
  FaultConfig Get() const;
  void Set(FaultConfig config);
  // Decides for one request to `path` and consumes one "fail next" when it applies.
  FaultDecision Decide(std::string_view path);

 private:
  mutable absl::Mutex mu_;
  FaultConfig config_ ABSL_GUARDED_BY(mu_);
};

// A generic HTML error page, as a load balancer or a hibernating instance would send.
std::string HtmlErrorPage(int status);

// The reason phrase of common statuses ("Service Unavailable"), "Error" otherwise.
std::string_view ReasonPhrase(int status);

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_FAULTS_H_
