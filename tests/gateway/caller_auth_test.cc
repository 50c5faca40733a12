// CallerAuth (gateway/auth/caller_auth.h): each method admits exactly its credentials, a refusal
// never says which part was wrong, Standard Webhooks signatures (the specification's example
// vector), tolerance and replays, per-profile methods, secrets from files and the environment.
#include "gateway/auth/caller_auth.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/server/config/fake_secret_source.h"

namespace onsync::gateway {
namespace {

using ::onsync::testing::FakeSecretSource;
using ::testing::HasSubstr;
using ::testing::Not;

// The example of the Standard Webhooks specification (and of its reference libraries).
constexpr char kSpecSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSpecId[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr char kSpecTimestamp[] = "1614265330";
constexpr char kSpecBody[] = R"({"test": 2432232314})";
constexpr char kSpecSignature[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const absl::Time kSpecTime = absl::FromUnixSeconds(1614265330);

v1::Config ParseConfig(const std::string& text) {
  v1::Config config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

http::Request Request(std::vector<std::pair<std::string, std::string>> headers,
                      std::string body = "") {
  http::Request request;
  request.method = "POST";
  request.path = "/sync";
  request.headers = std::move(headers);
  request.body = std::move(body);
  return request;
}

std::string Basic(const std::string& user_and_password) {
  return absl::StrCat("Basic ", absl::Base64Escape(user_and_password));
}

class CallerAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secrets_.files = {{"/s/password", "pa:ss\n"},
                      {"/s/key", "key-123"},
                      {"/s/token", "tok-456"},
                      {"/s/webhook", kSpecSecret},
                      {"/s/profile-key", "profile-key-789"}};
    secrets_.env = {{"BEARER_TOKEN", "env-token"}};
  }

  std::unique_ptr<CallerAuth> Make(const std::string& config_text) {
    auto auth = CallerAuth::Create(ParseConfig(config_text), secrets_);
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }

  static void ExpectRefused(const absl::StatusOr<Admission>& admitted) {
    ASSERT_FALSE(admitted.ok());
    EXPECT_EQ(admitted.status().code(), absl::StatusCode::kUnauthenticated);
    // The same words whatever was wrong.
    EXPECT_EQ(admitted.status().message(), "missing or invalid credentials");
  }

  FakeSecretSource secrets_;
  const absl::Time now_ = kSpecTime;
};

TEST_F(CallerAuthTest, NothingConfiguredIsOpen) {
  auto auth = Make("");
  ASSERT_NE(auth, nullptr);
  EXPECT_TRUE(auth->open());
  EXPECT_TRUE(auth->Check(Request({}), "", now_).ok());
}

TEST_F(CallerAuthTest, BasicAdmitsExactlyTheUserAndPassword) {
  auto auth =
      Make(R"(gateway { auth { basic { username: "onspring" password_file: "/s/password" } } })");
  ASSERT_NE(auth, nullptr);
  EXPECT_FALSE(auth->open());
  // The file's trailing newline is not part of the password; the password may hold ':'.
  EXPECT_TRUE(auth->Check(Request({{"authorization", Basic("onspring:pa:ss")}}), "", now_).ok());
  EXPECT_TRUE(
      auth->Check(Request({{"authorization", "basic " + absl::Base64Escape("onspring:pa:ss")}}), "",
                  now_)
          .ok());
  for (const std::string& wrong :
       {Basic("onspring:pa:sS"), Basic("onspring:pa:ss "), Basic("Onspring:pa:ss"),
        Basic("onspring:"), Basic(""), std::string("Basic !!!not-base64"),
        std::string("Bearer ") + absl::Base64Escape("onspring:pa:ss"), std::string("Basic"),
        std::string("onspring:pa:ss")}) {
    SCOPED_TRACE(wrong);
    ExpectRefused(auth->Check(Request({{"authorization", wrong}}), "", now_));
  }
  ExpectRefused(auth->Check(Request({}), "", now_));
}

TEST_F(CallerAuthTest, ApiKeyInItsNamedHeader) {
  auto auth = Make(R"(gateway { auth { api_key { header: "X-Onsync-Key" key_file: "/s/key" } } })");
  ASSERT_NE(auth, nullptr);
  // Request header names are lower-case (the HTTP core lower-cases them).
  EXPECT_TRUE(auth->Check(Request({{"x-onsync-key", "key-123"}}), "", now_).ok());
  ExpectRefused(auth->Check(Request({{"x-onsync-key", "key-1234"}}), "", now_));
  ExpectRefused(auth->Check(Request({{"x-onsync-key", "key-12"}}), "", now_));
  ExpectRefused(auth->Check(Request({{"x-api-key", "key-123"}}), "", now_));
  ExpectRefused(auth->Check(Request({{"authorization", "Bearer key-123"}}), "", now_));
}

TEST_F(CallerAuthTest, DefaultApiKeyHeaderAndBearerFromTheEnvironment) {
  auto auth = Make(R"(gateway {
    auth { api_key { key_file: "/s/key" } }
    auth { bearer { token: "${BEARER_TOKEN}" } }
  })");
  ASSERT_NE(auth, nullptr);
  EXPECT_TRUE(auth->Check(Request({{"x-api-key", "key-123"}}), "", now_).ok());
  EXPECT_TRUE(auth->Check(Request({{"authorization", "Bearer env-token"}}), "", now_).ok());
  ExpectRefused(auth->Check(Request({{"authorization", "Bearer env-token2"}}), "", now_));
  ExpectRefused(auth->Check(Request({{"authorization", "Bearer key-123"}}), "", now_));
  EXPECT_EQ(auth->Challenge(""),
            R"(ApiKey realm="onsync", header="x-api-key", Bearer realm="onsync")");
}

TEST_F(CallerAuthTest, TheSpecificationsWebhookVector) {
  const absl::StatusOr<std::string> key = WebhookKeyFromSecret(kSpecSecret);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(StandardWebhookSignature(*key, kSpecId, kSpecTimestamp, kSpecBody), kSpecSignature);
  // A secret without the prefix is used as raw bytes.
  EXPECT_EQ(*WebhookKeyFromSecret("raw secret"), "raw secret");
  EXPECT_EQ(WebhookKeyFromSecret("whsec_!!!").status().code(), absl::StatusCode::kInvalidArgument);
}

class SignedWebhookTest : public CallerAuthTest {
 protected:
  void SetUp() override {
    CallerAuthTest::SetUp();
    auth_ = Make(R"(gateway { auth { signed_webhook { secret_file: "/s/webhook" } } })");
    ASSERT_NE(auth_, nullptr);
  }

  static http::Request Delivery(std::string id = kSpecId, std::string timestamp = kSpecTimestamp,
                                std::string signature = kSpecSignature,
                                std::string body = kSpecBody) {
    return Request({{"webhook-id", std::move(id)},
                    {"webhook-timestamp", std::move(timestamp)},
                    {"webhook-signature", std::move(signature)}},
                   std::move(body));
  }

  std::unique_ptr<CallerAuth> auth_;
};

TEST_F(SignedWebhookTest, AdmitsASignedDeliveryOnceAndAgainAfterRelease) {
  absl::StatusOr<Admission> first = auth_->Check(Delivery(), "", now_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replay_key.empty());
  // The same id again is a replay, even with a valid signature.
  ExpectRefused(auth_->Check(Delivery(), "", now_ + absl::Seconds(1)));
  // A delivery that failed on onsync's side is forgotten: the sender's retry gets in.
  auth_->Release(*first);
  EXPECT_TRUE(auth_->Check(Delivery(), "", now_ + absl::Seconds(2)).ok());
}

TEST_F(SignedWebhookTest, RefusesTamperedLateEarlyAndUnsignedDeliveries) {
  ExpectRefused(auth_->Check(
      Delivery(kSpecId, kSpecTimestamp, kSpecSignature, R"({"test": 2432232315})"), "", now_));
  ExpectRefused(auth_->Check(Delivery("msg_other"), "", now_));  // the id is signed too
  ExpectRefused(auth_->Check(Delivery(kSpecId, "1614265331"), "", now_));
  ExpectRefused(auth_->Check(Delivery(kSpecId, kSpecTimestamp, "v1,AAAA"), "", now_));
  ExpectRefused(auth_->Check(
      Delivery(kSpecId, kSpecTimestamp, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "",
      now_));
  ExpectRefused(auth_->Check(Delivery(kSpecId, "not-a-number"), "", now_));
  ExpectRefused(auth_->Check(Delivery(kSpecId, kSpecTimestamp, ""), "", now_));
  ExpectRefused(auth_->Check(Delivery(""), "", now_));
  ExpectRefused(auth_->Check(Request({}, kSpecBody), "", now_));
  // Five minutes either way, no more.
  ExpectRefused(auth_->Check(Delivery(), "", now_ + absl::Minutes(5) + absl::Seconds(1)));
  ExpectRefused(auth_->Check(Delivery(), "", now_ - absl::Minutes(5) - absl::Seconds(1)));
  EXPECT_TRUE(auth_->Check(Delivery(), "", now_ + absl::Minutes(5)).ok());
}

TEST_F(SignedWebhookTest, AnyOfSeveralSignaturesMaySign) {
  // A sender rotating its secret signs with the old and the new one.
  EXPECT_TRUE(
      auth_
          ->Check(Delivery(kSpecId, kSpecTimestamp, absl::StrCat("v1,AAAA ", kSpecSignature)), "",
                  now_)
          .ok());
}

TEST_F(SignedWebhookTest, ToleranceFromTheConfig) {
  auto strict = Make(
      R"(gateway { auth { signed_webhook { secret_file: "/s/webhook" tolerance { seconds: 10 } } } })");
  ASSERT_NE(strict, nullptr);
  ExpectRefused(strict->Check(Delivery(), "", now_ + absl::Seconds(11)));
  EXPECT_TRUE(strict->Check(Delivery(), "", now_ + absl::Seconds(10)).ok());
}

TEST_F(CallerAuthTest, AProfilesOwnMethodsReplaceTheGatewaysOnItsOutcomeRoute) {
  auto auth = Make(R"(
    gateway { auth { bearer { token_file: "/s/token" } } }
    profiles { key: "special" value { auth { api_key { key_file: "/s/profile-key" } } } }
    profiles { key: "plain" value { } })");
  ASSERT_NE(auth, nullptr);
  const http::Request bearer = Request({{"authorization", "Bearer tok-456"}});
  const http::Request profile_key = Request({{"x-api-key", "profile-key-789"}});
  EXPECT_TRUE(auth->Check(bearer, "", now_).ok());
  EXPECT_TRUE(auth->Check(bearer, "plain", now_).ok());
  EXPECT_TRUE(auth->Check(bearer, "unknown", now_).ok());
  ExpectRefused(auth->Check(bearer, "special", now_));
  EXPECT_TRUE(auth->Check(profile_key, "special", now_).ok());
  ExpectRefused(auth->Check(profile_key, "", now_));
  EXPECT_EQ(auth->Challenge("special"), R"(ApiKey realm="onsync", header="x-api-key")");
  EXPECT_EQ(auth->Challenge("plain"), R"(Bearer realm="onsync")");
}

TEST_F(CallerAuthTest, AMissingSecretStopsCreationNamingTheKeyNotTheValue) {
  secrets_.files.erase("/s/token");
  auto auth = CallerAuth::Create(
      ParseConfig(R"(gateway { auth { bearer { token_file: "/s/token" } } })"), secrets_);
  ASSERT_FALSE(auth.ok());
  EXPECT_THAT(std::string(auth.status().message()), HasSubstr("gateway.auth[0].bearer.token"));
  secrets_.env.clear();
  auth = CallerAuth::Create(
      ParseConfig(R"(gateway { auth { bearer { token: "${BEARER_TOKEN}" } } })"), secrets_);
  ASSERT_FALSE(auth.ok());
  EXPECT_THAT(std::string(auth.status().message()), Not(HasSubstr("env-token")));
}

TEST(ConstantTimeEqualsTest, ComparesContentsOfAnyLength) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
}

}  // namespace
}  // namespace onsync::gateway
