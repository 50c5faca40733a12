// The secrets seam of the configuration: where secret values come from and how one secret is
// resolved from its two config keys (`<name>: ${ENV_NAME}` or `<name>_file: PATH`).
//
// Secrets are never written inline in the config file (see proto/onsync/v1/config.proto). The
// loaded `onsync::v1::Config` keeps the references, never the values; whoever needs a secret
// calls `ResolveSecret` when it needs it, so rotated files are picked up and the config proto can
// be logged or served without leaking anything.
//
// Error messages produced here name the config key, the environment variable or the file path,
// and never the secret's value.
//
// Thread-safety: every function here is thread-safe; `SecretSource` implementations must be too.
// (`SystemSecretSource` reads the environment with getenv, which is safe as long as nothing in
// the process calls setenv/putenv concurrently.)
#ifndef ONSYNC_SERVER_CONFIG_SECRETS_H_
#define ONSYNC_SERVER_CONFIG_SECRETS_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace onsync::config {

// Where secrets come from; fake it in tests. Implementations must be thread-safe.
class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // The whole contents of the file at `path`. Errors carry the path and a canonical code
  // (NOT_FOUND, PERMISSION_DENIED, ...), never file contents.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) const = 0;
  // The value of the environment variable `name`, or nullopt when it is not set.
  virtual std::optional<std::string> GetEnv(const std::string& name) const = 0;
};

// Real files (at most `kMaxSecretFileBytes`) and getenv. Lives for the whole program.
const SecretSource& SystemSecretSource();

// Every secret resolves to a placeholder: for a process that reads the config but uses none of
// its upstream secrets (the gateway), so that validating the config checks their shape only and
// they need not be readable there. Lives for the whole program.
const SecretSource& PlaceholderSecretSource();

// Secret files larger than this are refused: they are certainly not a key or a password, and the
// cap keeps a mistaken path (a log file, /dev/zero) from eating memory.
inline constexpr std::size_t kMaxSecretFileBytes = 1 << 20;

// Reads the whole regular file at `path`, refusing files larger than `max_bytes`. Errors map
// errno to the canonical code (ENOENT -> NOT_FOUND, EACCES -> PERMISSION_DENIED, EISDIR ->
// FAILED_PRECONDITION, ...), and the larger-than-max case to OUT_OF_RANGE; every message names
// `path`. Shared by `SystemSecretSource` and the config file loader.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, std::size_t max_bytes);

// Checks the shape of one secret's two keys without resolving it: exactly one of `value` and
// `file` is set, and `value`, when set, is exactly `${NAME}` with NAME = [A-Za-z_][A-Za-z0-9_]*.
// `key_path` is the dotted path of the value key (e.g. "onspring.api_key"); the file key is
// `key_path` + "_file". Errors are INVALID_ARGUMENT and start with the offending key path.
absl::Status CheckSecretReference(std::string_view key_path, std::string_view value,
                                  std::string_view file);

// Resolves one secret from its two keys. `key_path` (e.g. "onspring.api_key") is for messages.
// Exactly one of `value` (must be "${NAME}") and `file` must be set. One trailing "\n" or "\r\n"
// of a file is stripped. The resolved secret must not be empty.
//
// Errors (messages start with the key path, never contain the secret):
//   INVALID_ARGUMENT     the shape is wrong (see CheckSecretReference);
//   FAILED_PRECONDITION  the environment variable is unset or empty, or the file is empty;
//   the code of `source.ReadFile` (NOT_FOUND, PERMISSION_DENIED, ...) when the file is unreadable.
absl::StatusOr<std::string> ResolveSecret(std::string_view key_path, std::string_view value,
                                          std::string_view file, const SecretSource& source);

}  // namespace onsync::config

#endif  // ONSYNC_SERVER_CONFIG_SECRETS_H_
