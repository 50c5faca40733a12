#include "server/config/secrets.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/config/fake_secret_source.h"

namespace onsync::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using testing::FakeSecretSource;
using testing::kSecret;
using testing::Message;

TEST(ResolveSecretTest, EnvironmentReference) {
  FakeSecretSource source;
  source.env["ONSPRING_API_KEY"] = kSecret;
  absl::StatusOr<std::string> secret =
      ResolveSecret("onspring.api_key", "${ONSPRING_API_KEY}", "", source);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, kSecret);
}

TEST(ResolveSecretTest, FileStripsOneTrailingNewline) {
  FakeSecretSource source;
  source.files["/s/lf"] = "abc\n";
  source.files["/s/crlf"] = "abc\r\n";
  source.files["/s/none"] = "abc";
  source.files["/s/two"] = "abc\n\n";
  source.files["/s/inner"] = "a\nb\n";
  EXPECT_EQ(*ResolveSecret("k", "", "/s/lf", source), "abc");
  EXPECT_EQ(*ResolveSecret("k", "", "/s/crlf", source), "abc");
  EXPECT_EQ(*ResolveSecret("k", "", "/s/none", source), "abc");
  EXPECT_EQ(*ResolveSecret("k", "", "/s/two", source), "abc\n");
  EXPECT_EQ(*ResolveSecret("k", "", "/s/inner", source), "a\nb");
}

TEST(ResolveSecretTest, BothKeysSet) {
  FakeSecretSource source;
  absl::StatusOr<std::string> secret = ResolveSecret("onspring.api_key", "${X}", "/f", source);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(secret.status()),
              StartsWith("onspring.api_key: set only one of api_key and api_key_file"));
}

TEST(ResolveSecretTest, NeitherKeySet) {
  FakeSecretSource source;
  absl::StatusOr<std::string> secret =
      ResolveSecret("gateway.auth[0].bearer.token", "", "", source);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(secret.status()),
              AllOf(StartsWith("gateway.auth[0].bearer.token: required"), HasSubstr("token_file")));
}

TEST(ResolveSecretTest, InlineValueRejectedWithoutEchoingIt) {
  FakeSecretSource source;
  for (const std::string& value : std::vector<std::string>{
           std::string(kSecret), "$" + std::string(kSecret), "${" + std::string(kSecret) + "}",
           "${}", "${1ABC}", "$ABC", "${ABC", "ABC}", " ${ABC}", "${ABC} ", "${A B}"}) {
    absl::StatusOr<std::string> secret = ResolveSecret("onspring.api_key", value, "", source);
    EXPECT_EQ(secret.status().code(), absl::StatusCode::kInvalidArgument) << value;
    EXPECT_THAT(Message(secret.status()),
                AllOf(StartsWith("onspring.api_key: secrets are never inline: use api_key_file "
                                 "or ${ENV}"),
                      Not(HasSubstr(kSecret))))
        << value;
  }
}

TEST(ResolveSecretTest, ValidReferenceNames) {
  FakeSecretSource source;
  for (const std::string name : {"A", "_", "a_b", "_X1", "ONSPRING_API_KEY_2"}) {
    source.env[name] = "v";
    EXPECT_TRUE(ResolveSecret("k", "${" + name + "}", "", source).ok()) << name;
  }
}

TEST(ResolveSecretTest, UnsetOrEmptyEnvironment) {
  FakeSecretSource source;
  absl::StatusOr<std::string> unset = ResolveSecret("onspring.api_key", "${NOPE}", "", source);
  EXPECT_EQ(unset.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(unset.status()),
              StartsWith("onspring.api_key: environment variable NOPE is not set"));

  source.env["EMPTY"] = "";
  absl::StatusOr<std::string> empty = ResolveSecret("onspring.api_key", "${EMPTY}", "", source);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(empty.status()), HasSubstr("EMPTY is empty"));
}

TEST(ResolveSecretTest, MissingOrEmptyFile) {
  FakeSecretSource source;
  absl::StatusOr<std::string> missing =
      ResolveSecret("onspring.api_key", "", "/run/secrets/onspring", source);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()),
              AllOf(StartsWith("onspring.api_key_file: "), HasSubstr("/run/secrets/onspring")));

  source.files["/run/secrets/onspring"] = "\n";
  absl::StatusOr<std::string> empty =
      ResolveSecret("onspring.api_key", "", "/run/secrets/onspring", source);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(empty.status()),
              StartsWith("onspring.api_key_file: /run/secrets/onspring is empty"));
}

TEST(ResolveSecretTest, AddsThePathWhenTheSourceDoesNot) {
  FakeSecretSource source;
  source.read_error = absl::PermissionDeniedError("denied");
  absl::StatusOr<std::string> secret = ResolveSecret("db.dsn", "", "/s/dsn", source);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(secret.status()), StartsWith("db.dsn_file: cannot read /s/dsn: denied"));
}

TEST(CheckSecretReferenceTest, ShapeOnly) {
  EXPECT_TRUE(CheckSecretReference("k", "${UNSET_ANYWHERE}", "").ok());
  EXPECT_TRUE(CheckSecretReference("k", "", "/does/not/exist").ok());
  EXPECT_EQ(CheckSecretReference("k", kSecret, "").code(), absl::StatusCode::kInvalidArgument);
}

class SystemSecretSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("secrets_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(SystemSecretSourceTest, ReadsFilesAndEnvironment) {
  const std::string path = Write("key", std::string(kSecret) + "\n");
  absl::StatusOr<std::string> secret = ResolveSecret("k", "", path, SystemSecretSource());
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, kSecret);

  ASSERT_EQ(::setenv("ONSYNC_SECRETS_TEST_VAR", "from-env", 1), 0);
  EXPECT_EQ(SystemSecretSource().GetEnv("ONSYNC_SECRETS_TEST_VAR"), "from-env");
  ::unsetenv("ONSYNC_SECRETS_TEST_VAR");
  EXPECT_EQ(SystemSecretSource().GetEnv("ONSYNC_SECRETS_TEST_VAR"), std::nullopt);
}

TEST_F(SystemSecretSourceTest, ErrorsNameThePath) {
  const std::string missing = (dir_ / "missing").string();
  absl::StatusOr<std::string> read = SystemSecretSource().ReadFile(missing);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(read.status()), HasSubstr(missing));

  absl::StatusOr<std::string> dir = SystemSecretSource().ReadFile(dir_.string());
  EXPECT_FALSE(dir.ok());
  EXPECT_THAT(Message(dir.status()), HasSubstr(dir_.string()));
}

TEST_F(SystemSecretSourceTest, ReadFileToStringCapsTheSize) {
  const std::string path = Write("big", std::string(100, 'x'));
  EXPECT_EQ(ReadFileToString(path, 100).value(), std::string(100, 'x'));
  absl::StatusOr<std::string> big = ReadFileToString(path, 99);
  EXPECT_EQ(big.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(Message(big.status()), HasSubstr(path));
}

}  // namespace
}  // namespace onsync::config
