#include "tests/sandbox/faults.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"
#include "tests/sandbox/json_util.h"

namespace onsync::sandbox {
namespace {

absl::Status IntMember(const rapidjson::Value& json, std::string_view name, int64_t min,
                       int64_t max, int64_t* out) {
  const rapidjson::Value* value = FindMember(json, name, /*ignore_case=*/true);
  if (value == nullptr || value->IsNull()) return absl::OkStatus();
  if (!value->IsInt64() || value->GetInt64() < min || value->GetInt64() > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "faults: \"", ToAbsl(name), "\" must be an integer in [", min, ", ", max, "]"));
  }
  *out = value->GetInt64();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FaultConfig> ParseFaultConfig(const rapidjson::Value& json) {
  if (!json.IsObject()) return absl::InvalidArgumentError("faults: expected a JSON object");
  static constexpr std::string_view kKnown[] = {"target",        "latency_ms",  "slow_body_ms",
                                                "fail_next",     "fail_status", "fail_body",
                                                "retry_after_s", "fail_path"};
  for (auto it = json.MemberBegin(); it != json.MemberEnd(); ++it) {
    bool known = false;
    for (std::string_view name : kKnown) {
      known = known || absl::EqualsIgnoreCase(ToAbsl(View(it->name)), ToAbsl(name));
    }
    if (!known) {
      return absl::InvalidArgumentError(
          absl::StrCat("faults: unknown member \"", ToAbsl(View(it->name)), "\""));
    }
  }
  FaultConfig config;
  int64_t latency_ms = 0;
  int64_t slow_body_ms = 0;
  int64_t fail_status = config.fail_status;
  if (absl::Status s = IntMember(json, "latency_ms", 0, 600000, &latency_ms); !s.ok()) return s;
  if (absl::Status s = IntMember(json, "slow_body_ms", 0, 600000, &slow_body_ms); !s.ok()) {
    return s;
  }
  if (absl::Status s = IntMember(json, "fail_next", -1, 1000000000, &config.fail_next); !s.ok()) {
    return s;
  }
  if (absl::Status s = IntMember(json, "fail_status", 200, 599, &fail_status); !s.ok()) return s;
  if (absl::Status s = IntMember(json, "retry_after_s", 0, 86400, &config.retry_after_s); !s.ok()) {
    return s;
  }
  config.latency = absl::Milliseconds(latency_ms);
  config.slow_body = absl::Milliseconds(slow_body_ms);
  config.fail_status = static_cast<int>(fail_status);
  if (const rapidjson::Value* body = FindMember(json, "fail_body", true); body != nullptr) {
    if (!body->IsString() ||
        (View(*body) != "json" && View(*body) != "html" && View(*body) != "truncated")) {
      return absl::InvalidArgumentError(
          "faults: \"fail_body\" must be \"json\", \"html\" or \"truncated\"");
    }
    config.fail_body = std::string(View(*body));
  }
  if (const rapidjson::Value* path = FindMember(json, "fail_path", true); path != nullptr) {
    if (!path->IsString())
      return absl::InvalidArgumentError("faults: \"fail_path\" must be a string");
    config.fail_path = std::string(View(*path));
  }
  return config;
}

std::string FaultConfigToJson(const FaultConfig& config) {
  JsonWriter out;
  out.StartObject()
      .Member("latency_ms", absl::ToInt64Milliseconds(config.latency))
      .Member("slow_body_ms", absl::ToInt64Milliseconds(config.slow_body))
      .Member("fail_next", config.fail_next)
      .Member("fail_status", config.fail_status)
      .Member("fail_body", config.fail_body)
      .Member("retry_after_s", config.retry_after_s)
      .Member("fail_path", config.fail_path)
      .EndObject();
  return out.str();
}

FaultConfig FaultInjector::Get() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

void FaultInjector::Set(FaultConfig config) {
  absl::MutexLock lock(&mu_);
  config_ = std::move(config);
}

FaultDecision FaultInjector::Decide(std::string_view path) {
  absl::MutexLock lock(&mu_);
  FaultDecision decision;
  decision.delay = config_.latency + config_.slow_body;
  const bool eligible =
      config_.fail_path.empty() || absl::StrContains(absl::AsciiStrToLower(ToAbsl(path)),
                                                     absl::AsciiStrToLower(config_.fail_path));
  if (eligible && config_.fail_next != 0) {
    if (config_.fail_next > 0) --config_.fail_next;
    decision.fail = true;
    decision.status = config_.fail_status;
    decision.html = config_.fail_body == "html";
    decision.truncated = config_.fail_body == "truncated";
    decision.retry_after_s = config_.retry_after_s;
    decision.name =
        absl::StrCat("fail:", config_.fail_status, config_.fail_body == "json" ? "" : ":",
                     config_.fail_body == "json" ? "" : config_.fail_body);
  }
  return decision;
}

std::string HtmlErrorPage(int status) {
  return absl::StrCat(
      "<!DOCTYPE html>\n<html><head><title>", status, " ", ToAbsl(ReasonPhrase(status)),
      "</title></head>\n<body><h1>", ToAbsl(ReasonPhrase(status)),
      "</h1>\n<p>The server is temporarily unable to service your request. Please try again "
      "later.</p>\n<hr><address>onsync-sandbox</address></body></html>\n");
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

}  // namespace onsync::sandbox
