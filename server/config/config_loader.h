// Loading onsync's YAML configuration file into a validated `onsync::v1::Config`.
//
// Pipeline: yaml-cpp parses the text; a converter walks the YAML tree together with the protobuf
// descriptor of the target message and emits JSON (matching keys to fields by proto name or
// json_name, coercing scalars to the JSON type each field needs, accepting short enum names and
// `30s`-style durations); protobuf's JSON parser turns that into the message; then the
// validation rules below run (required values, cross-field rules, secrets resolvable).
//
// Every error is INVALID_ARGUMENT (except file-level errors of LoadConfigFile) and reports ALL
// problems found at that stage, joined by "; ". Each problem starts with the key path of the
// offending key as written in the YAML, dotted, with sequence items as `[i]`:
//   profiles.business_app.source.tabel: unknown key (known: table, key_field) (line 5)
//   gateway.auth[0].basic.password: secrets are never inline: use password_file or ${ENV}
// YAML syntax errors instead start with "line L, column C:". Messages never contain a secret's
// value.
//
// The returned Config keeps secret references (`${NAME}`, `*_file` paths), never resolved values:
// users call `ResolveSecret` (secrets.h) when they need one.
//
// Thread-safety: all functions are reentrant and thread-safe (no shared mutable state); the
// `SecretSource` passed in must be thread-safe.
#ifndef ONSYNC_SERVER_CONFIG_CONFIG_LOADER_H_
#define ONSYNC_SERVER_CONFIG_CONFIG_LOADER_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/logging.h"
#include "google/protobuf/descriptor.h"
#include "onsync/v1/config.pb.h"
#include "server/config/secrets.h"

namespace onsync::config {

// Config files larger than this are refused before parsing.
inline constexpr std::size_t kMaxConfigBytes = 4 << 20;

// Parses YAML text into a validated Config (YamlToJson, the JSON parser, ValidateConfig). An
// empty document is a valid, empty config.
absl::StatusOr<onsync::v1::Config> ParseConfigYaml(std::string_view yaml,
                                                   const SecretSource& secrets);

// Reads the file (NOT_FOUND / PERMISSION_DENIED etc. naming the path when unreadable) then
// ParseConfigYaml.
absl::StatusOr<onsync::v1::Config> LoadConfigFile(const std::string& path,
                                                  const SecretSource& secrets);

// Checks required values and cross-field rules of a parsed (or programmatically built) config,
// and that every secret resolves through `secrets`. Paths in messages use proto field names.
absl::Status ValidateConfig(const onsync::v1::Config& config, const SecretSource& secrets);

// The log level `logging` sets (info when unset).
logging::Level LogLevelFrom(const onsync::v1::LoggingConfig& logging);

// Checks one profile (e.g. an inline profile of a SyncRecord request). Messages start with
// `path_prefix` (e.g. "profile" or "profiles.business_app"). Secrets in `auth` are checked for
// shape only (a `${NAME}` reference or a file path), not resolved.
absl::Status ValidateProfile(std::string_view path_prefix, const onsync::v1::Profile& profile);

// The YAML -> JSON step on its own (exposed for tests and fuzzing), guided by `descriptor`.
// Returns compact JSON that `google::protobuf::util::JsonStringToMessage` accepts for that
// message type. Does no validation beyond keys, shapes and scalar types.
absl::StatusOr<std::string> YamlToJson(std::string_view yaml,
                                       const google::protobuf::Descriptor& descriptor);

}  // namespace onsync::config

#endif  // ONSYNC_SERVER_CONFIG_CONFIG_LOADER_H_
