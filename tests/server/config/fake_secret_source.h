// Test helpers shared by the config tests: a SecretSource backed by maps, a distinctive secret
// value, and a Status-message accessor for gMock's string matchers.
// Thread safety: FakeSecretSource is thread-compatible (tests fill it, then only read it).
#ifndef ONSYNC_TESTS_SERVER_CONFIG_FAKE_SECRET_SOURCE_H_
#define ONSYNC_TESTS_SERVER_CONFIG_FAKE_SECRET_SOURCE_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config/secrets.h"

namespace onsync::testing {

// Debian's absl::string_view is not std::string_view, which gMock's string matchers want.
inline std::string Message(const absl::Status& status) { return std::string(status.message()); }

// A distinctive value, so that a leak into any message is easy to spot.
inline constexpr char kSecret[] = "Zq7-UNIQUE-s3cret-VALUE";

// Files and environment from maps.
class FakeSecretSource final : public config::SecretSource {
 public:
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> env;
  // When set, ReadFile fails with this status for every path.
  std::optional<absl::Status> read_error;

  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    if (read_error.has_value()) return *read_error;
    auto it = files.find(path);
    if (it == files.end()) {
      return absl::NotFoundError("cannot open " + path + ": No such file or directory");
    }
    return it->second;
  }
  std::optional<std::string> GetEnv(const std::string& name) const override {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  }
};

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_SERVER_CONFIG_FAKE_SECRET_SOURCE_H_
