#include "server/config/secrets.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace onsync::config {
namespace {

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view), so
// the public std::string_view parameters are converted once at the boundary.
absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class SystemSource final : public SecretSource {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string& path) const override {
    return ReadFileToString(path, kMaxSecretFileBytes);
  }
  std::optional<std::string> GetEnv(const std::string& name) const override {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  }
};

// Closes a file descriptor on every path out of ReadFileToString.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { ::close(fd_); }

 private:
  int fd_;
};

// The last dotted segment of a key path: "gateway.auth[0].basic.password" -> "password".
absl::string_view LastSegment(absl::string_view key_path) {
  const size_t dot = key_path.rfind('.');
  return dot == absl::string_view::npos ? key_path : key_path.substr(dot + 1);
}

// NAME of a `${NAME}` reference, or empty when `value` is not exactly such a reference.
absl::string_view EnvReferenceName(absl::string_view value) {
  if (value.size() < 4 || !absl::StartsWith(value, "${") || !absl::EndsWith(value, "}")) {
    return {};
  }
  const absl::string_view name = value.substr(2, value.size() - 3);
  if (!absl::ascii_isalpha(name[0]) && name[0] != '_') return {};
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return {};
  }
  return name;
}

}  // namespace

namespace {

class PlaceholderSource final : public SecretSource {
 public:
  absl::StatusOr<std::string> ReadFile(const std::string&) const override {
    return std::string(kPlaceholder);
  }
  std::optional<std::string> GetEnv(const std::string&) const override {
    return std::string(kPlaceholder);
  }

 private:
  static constexpr char kPlaceholder[] = "placeholder-secret";
};

}  // namespace

const SecretSource& PlaceholderSecretSource() {
  static const PlaceholderSource* const kSource = new PlaceholderSource();
  return *kSource;
}

const SecretSource& SystemSecretSource() {
  static const SystemSource* const kSource = new SystemSource();
  return *kSource;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path, std::size_t max_bytes) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int error = errno;
    // ErrnoToStatus appends ": <strerror>" (thread-safely).
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", path));
  }
  FdCloser closer(fd);
  std::string contents;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return absl::ErrnoToStatus(error, absl::StrCat("cannot read ", path));
    }
    if (n == 0) break;
    if (contents.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("cannot read ", path, ": larger than ", max_bytes, " bytes"));
    }
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::Status CheckSecretReference(std::string_view key_path_in, std::string_view value_in,
                                  std::string_view file_in) {
  const absl::string_view key_path = AsAbsl(key_path_in);
  const absl::string_view value = AsAbsl(value_in);
  const absl::string_view file = AsAbsl(file_in);
  const absl::string_view key = LastSegment(key_path);
  if (!value.empty() && !file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, ": set only one of ", key, " and ", key, "_file"));
  }
  if (value.empty() && file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, ": required (set ", key, "_file or ", key, ": ${ENV})"));
  }
  if (!value.empty() && EnvReferenceName(value).empty()) {
    // Never echo `value`: it is most likely the secret itself.
    return absl::InvalidArgumentError(
        absl::StrCat(key_path, ": secrets are never inline: use ", key, "_file or ${ENV}"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveSecret(std::string_view key_path_in, std::string_view value_in,
                                          std::string_view file_in, const SecretSource& source) {
  if (absl::Status shape = CheckSecretReference(key_path_in, value_in, file_in); !shape.ok()) {
    return shape;
  }
  const absl::string_view key_path = AsAbsl(key_path_in);
  const absl::string_view value = AsAbsl(value_in);
  const absl::string_view file = AsAbsl(file_in);
  if (!value.empty()) {
    const std::string name(EnvReferenceName(value));
    std::optional<std::string> env = source.GetEnv(name);
    if (!env.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path, ": environment variable ", name, " is not set"));
    }
    if (env->empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path, ": environment variable ", name, " is empty"));
    }
    return *std::move(env);
  }
  const std::string file_key = absl::StrCat(key_path, "_file");
  const std::string path(file);
  absl::StatusOr<std::string> contents = source.ReadFile(path);
  if (!contents.ok()) {
    // The source's message should name the path already; make sure it does.
    const absl::string_view message = contents.status().message();
    return absl::Status(contents.status().code(),
                        absl::StrContains(message, path)
                            ? absl::StrCat(file_key, ": ", message)
                            : absl::StrCat(file_key, ": cannot read ", path, ": ", message));
  }
  std::string secret = *std::move(contents);
  if (absl::EndsWith(secret, "\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (absl::EndsWith(secret, "\n")) {
    secret.resize(secret.size() - 1);
  }
  if (secret.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(file_key, ": ", path, " is empty"));
  }
  return secret;
}

}  // namespace onsync::config
