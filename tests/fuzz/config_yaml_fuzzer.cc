// Fuzzes the YAML config loader: YamlToJson (yaml-cpp, then the descriptor-guided YAML -> JSON
// converter) and ParseConfigYaml (converter, protobuf's JSON parser, validation, secret
// resolution) on arbitrary text, with a fake SecretSource that returns fixed strings and never
// touches files or the environment (variables named UNSET_* are unset, files under /missing/ do
// not exist, to reach the error paths).
//
// Invariants: no crash or undefined behaviour; every error is INVALID_ARGUMENT; JSON that
// YamlToJson returns is accepted by JsonStringToMessage for onsync.v1.Config (the header's
// promise: "the converter checks every type"); a config ParseConfigYaml returns passes
// ValidateConfig; messages never contain a resolved secret value (unless the input itself does).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "onsync/v1/config.pb.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using onsync::fuzz::Check;

constexpr std::string_view kFileSecret = "file-secret-Q7vX2kLp";
constexpr std::string_view kEnvSecret = "env-secret-M4tR9wZc";

class FakeSecrets final : public onsync::config::SecretSource {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    if (absl::StartsWith(path, "/missing/")) return absl::NotFoundError(path + ": not found");
    return std::string(kFileSecret) + "\n";
  }
  std::optional<std::string> GetEnv(const std::string& name) const override {
    if (absl::StartsWith(name, "UNSET_")) return std::nullopt;
    return std::string(kEnvSecret);
  }
};

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void CheckNoSecret(std::string_view input, std::string_view message) {
  if (!Contains(input, kFileSecret)) {
    Check(!Contains(message, kFileSecret), "a message shows a secret file's value", message);
  }
  if (!Contains(input, kEnvSecret)) {
    Check(!Contains(message, kEnvSecret), "a message shows a secret variable's value", message);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const FakeSecrets secrets;
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::string> json =
      onsync::config::YamlToJson(yaml, *onsync::v1::Config::descriptor());
  if (json.ok()) {
    onsync::v1::Config config;
    const auto parsed = google::protobuf::util::JsonStringToMessage(*json, &config);
    Check(parsed.ok(), "YamlToJson output is a valid onsync.v1.Config JSON",
          parsed.message().as_string() + " in " + *json);
  } else {
    Check(json.status().code() == absl::StatusCode::kInvalidArgument,
          "YamlToJson errors are INVALID_ARGUMENT", json.status().ToString());
  }

  absl::StatusOr<onsync::v1::Config> config = onsync::config::ParseConfigYaml(yaml, secrets);
  if (!config.ok()) {
    Check(config.status().code() == absl::StatusCode::kInvalidArgument,
          "ParseConfigYaml errors are INVALID_ARGUMENT", config.status().ToString());
    CheckNoSecret(yaml, onsync::ToStd(config.status().message()));
    return 0;
  }
  const absl::Status valid = onsync::config::ValidateConfig(*config, secrets);
  Check(valid.ok(), "a loaded config validates", valid.ToString());
  CheckNoSecret(yaml, config->DebugString());
  return 0;
}
