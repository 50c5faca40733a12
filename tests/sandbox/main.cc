// onsync-sandbox: flags, wiring, signals. The fakes live in the onsync_sandbox library.
//
// Flags take the form --name VALUE or --name=VALUE (dashes, as documented in README.md; absl's
// flag library cannot spell them).
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/string_view.h"
#include "spdlog/spdlog.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/sandbox.h"

namespace {

constexpr char kUsage[] =
    R"(onsync-sandbox: a fake ServiceNow and a fake Onspring for tests and demos.

Usage: onsync-sandbox [flags]
  --servicenow-listen HOST:PORT  fake ServiceNow listener (default 127.0.0.1:0; port 0 picks one)
  --onspring-listen HOST:PORT    fake Onspring listener (default 127.0.0.1:0)
  --allow-non-loopback           allow non-loopback listen addresses
  --seed FILE                    seed JSON (default: the built-in seed, = seed/default.json)
  --write-default-seed FILE      write the built-in seed to FILE and exit
  --outcome-url URL              base URL of the REST API outcome target ({{outcome_url}});
                                 without it outcomes are configured but skipped
  --latency-ms N                 add N ms to every response (both fakes)
  --fail-next N                  fail the next N requests (-1: all) of --fault-target
  --fail-status S                status of those failures (default 503)
  --fail-body json|html|truncated  body of those failures (default json)
  --retry-after S                Retry-After seconds on 429/503 failures (default 1)
  --fault-target T               servicenow, onspring or both (default both) for the flags above
  --fault JSON                   a fault object as for POST /__admin/faults (repeatable)
  --token-lifetime-s N           ServiceNow access-token lifetime override
  --threads N                    I/O threads per listener (default 2)
  --log-level L                  debug, info, warn or error (default info)
Prints "servicenow listening on HOST:PORT" and "onspring listening on HOST:PORT" when ready;
SIGTERM or SIGINT stop it.
)";

struct Args {
  std::vector<std::pair<std::string, std::string>> values;  // in order
  std::vector<std::string> errors;
};

constexpr std::string_view kValueFlags[] = {"servicenow-listen",  "onspring-listen", "seed",
                                            "write-default-seed", "outcome-url",     "latency-ms",
                                            "fail-next",          "fail-status",     "fail-body",
                                            "retry-after",        "fault-target",    "fault",
                                            "token-lifetime-s",   "threads",         "log-level"};
constexpr std::string_view kBoolFlags[] = {"allow-non-loopback", "help"};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      args.errors.push_back(absl::StrCat("unexpected argument \"", onsync::ToAbsl(arg), "\""));
      continue;
    }
    arg.remove_prefix(2);
    std::string name(arg.substr(0, arg.find('=')));
    for (char& c : name) c = c == '_' ? '-' : c;  // --outcome_url works too
    const bool has_inline = arg.find('=') != std::string_view::npos;
    bool known = false;
    for (std::string_view flag : kBoolFlags) {
      if (flag == name) {
        known = true;
        args.values.emplace_back(name,
                                 has_inline ? std::string(arg.substr(arg.find('=') + 1)) : "true");
      }
    }
    for (std::string_view flag : kValueFlags) {
      if (flag != name) continue;
      known = true;
      if (has_inline) {
        args.values.emplace_back(name, std::string(arg.substr(arg.find('=') + 1)));
      } else if (i + 1 < argc) {
        args.values.emplace_back(name, argv[++i]);
      } else {
        args.errors.push_back(absl::StrCat("--", name, " needs a value"));
      }
    }
    if (!known) args.errors.push_back(absl::StrCat("unknown flag --", name));
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  using onsync::sandbox::FaultConfig;
  using onsync::sandbox::Sandbox;
  using onsync::sandbox::SandboxOptions;

  Args args = ParseArgs(argc, argv);
  onsync::logging::Init("sandbox");
  for (const std::string& error : args.errors) spdlog::error("{}", error);
  if (!args.errors.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  SandboxOptions options;
  FaultConfig shortcut;
  bool shortcut_set = false;
  std::string fault_target = "both";
  std::vector<std::string> fault_json;
  std::string write_seed;
  bool bad = false;
  auto to_int = [&](const std::string& name, const std::string& value, int64_t min) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(value, &n) || n < min) {
      spdlog::error("--{}: \"{}\" is not an integer >= {}", name, value, min);
      bad = true;
    }
    return n;
  };
  for (const auto& [name, value] : args.values) {
    if (name == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (name == "servicenow-listen") options.servicenow_listen = value;
    if (name == "onspring-listen") options.onspring_listen = value;
    if (name == "allow-non-loopback") options.allow_non_loopback = value != "false";
    if (name == "seed") options.seed_file = value;
    if (name == "write-default-seed") write_seed = value;
    if (name == "outcome-url") options.outcome_url = value;
    if (name == "latency-ms") options.latency = absl::Milliseconds(to_int(name, value, 0));
    if (name == "threads") options.threads = static_cast<int>(to_int(name, value, 1));
    if (name == "token-lifetime-s") {
      options.access_token_lifetime = absl::Seconds(to_int(name, value, 1));
    }
    if (name == "fail-next") {
      shortcut.fail_next = to_int(name, value, -1);
      shortcut_set = true;
    }
    if (name == "fail-status") {
      shortcut.fail_status = static_cast<int>(to_int(name, value, 200));
      shortcut_set = true;
    }
    if (name == "fail-body") {
      shortcut.fail_body = value;
      shortcut_set = true;
      if (value != "json" && value != "html" && value != "truncated") {
        spdlog::error("--fail-body must be json, html or truncated");
        bad = true;
      }
    }
    if (name == "retry-after") {
      shortcut.retry_after_s = to_int(name, value, 0);
      shortcut_set = true;
    }
    if (name == "fault-target") fault_target = value;
    if (name == "fault") fault_json.push_back(value);
    if (name == "log-level") {
      auto level = onsync::logging::ParseLevel(value);
      if (!level.ok()) {
        spdlog::error("--log-level: {}", level.status().message());
        bad = true;
      } else {
        onsync::logging::SetLevel(*level);
      }
    }
  }
  if (fault_target != "both" && fault_target != "servicenow" && fault_target != "onspring") {
    spdlog::error("--fault-target must be both, servicenow or onspring");
    bad = true;
  }
  if (bad) return 2;

  if (!write_seed.empty()) {
    std::ofstream out(write_seed, std::ios::binary);
    out << Sandbox::DefaultSeed();
    if (!out) {
      spdlog::error("cannot write {}", write_seed);
      return 1;
    }
    return 0;
  }

  if (shortcut_set) {
    if (fault_target != "onspring") options.servicenow_faults = shortcut;
    if (fault_target != "servicenow") options.onspring_faults = shortcut;
  }
  for (const std::string& text : fault_json) {
    auto json = onsync::sandbox::ParseJson(text);
    if (!json.ok()) {
      spdlog::error("--fault: {}", json.status().message());
      return 2;
    }
    auto config = onsync::sandbox::ParseFaultConfig(*json);
    if (!config.ok()) {
      spdlog::error("--fault: {}", config.status().message());
      return 2;
    }
    const std::string target = onsync::sandbox::GetString(*json, "target").value_or("both");
    if (target != "onspring") options.servicenow_faults = *config;
    if (target != "servicenow") options.onspring_faults = *config;
  }

  // Block the stop signals before any thread starts, so that only sigwait sees them.
  onsync::BlockTerminationSignals();

  auto sandbox = Sandbox::Start(options);
  if (!sandbox.ok()) {
    spdlog::error("cannot start: {}", sandbox.status().message());
    return sandbox.status().code() == absl::StatusCode::kInvalidArgument ||
                   sandbox.status().code() == absl::StatusCode::kNotFound
               ? 2
               : 1;
  }
  spdlog::info("outcome target: {}",
               options.outcome_url.empty() ? "(none: outcomes are skipped)" : options.outcome_url);
  // The ready lines: scripts and tests read the bound ports from them.
  const auto host_of = [](const std::string& url) { return url.substr(url.find("://") + 3); };
  std::printf("servicenow listening on %s\n", host_of((*sandbox)->servicenow_url()).c_str());
  std::printf("onspring listening on %s\n", host_of((*sandbox)->onspring_url()).c_str());
  std::fflush(stdout);

  const int signal_number = onsync::WaitForTerminationSignal();
  spdlog::info("signal {}: shutting down", signal_number);
  (*sandbox)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
