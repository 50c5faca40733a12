// Caller auth on the gateway's routes over real sockets: every route but the probes and
// /metrics needs credentials; a refusal is 401 with WWW-Authenticate and a JSON error, and the
// server never sees the call; a signed delivery that failed on the server may be retried.
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/auth/caller_auth.h"
#include "gateway/gateway.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/gateway/sync_routes_fixture.h"
#include "tests/server/config/fake_secret_source.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {
namespace {

constexpr char kWebhookSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kBody[] = R"({"recordId": 7})";

class CallerAuthHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    onsync::v1::SyncRecordResponse response;
    response.mutable_result()->set_mode(onsync::v1::SYNC_MODE_RESPOND);
    response.mutable_result()->mutable_values();
    fake_.Answer(std::move(response));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);

    FakeSecretSource secrets;
    secrets.files = {{"/token", "t0ken"}, {"/webhook", kWebhookSecret}};
    onsync::v1::Config config;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
        R"(gateway { auth { bearer { token_file: "/token" } } }
           profiles { key: "signed" value { auth { signed_webhook { secret_file: "/webhook" } } } })",
        &config));
    auto auth = gateway::CallerAuth::Create(config, secrets);
    ASSERT_TRUE(auth.ok()) << auth.status();

    gateway::GatewayOptions options;
    options.listen = "127.0.0.1:0";
    options.server = absl::StrCat("127.0.0.1:", port);
    options.auth = *std::move(auth);
    auto started = gateway::Gateway::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    gateway_ = *std::move(started);
  }

  void TearDown() override {
    gateway_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  HttpResult Call(const std::string& method, const std::string& target,
                  std::vector<std::pair<std::string, std::string>> headers,
                  const std::string& body = kBody) {
    headers.emplace_back("Content-Type", "application/json");
    auto result = HttpRequest("127.0.0.1", gateway_->port(), method, target,
                              method == "GET" ? "" : body, std::move(headers));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(HttpResult{});
  }

  static void ExpectUnauthorized(const HttpResult& result, const std::string& challenge) {
    EXPECT_EQ(result.status, 401) << result.body;
    EXPECT_EQ(result.Header("www-authenticate").value_or(""), challenge);
    rapidjson::Document body;
    body.Parse(result.body.c_str());
    ASSERT_TRUE(body.IsObject()) << result.body;
    EXPECT_EQ(body["code"].GetInt(), 16);  // UNAUTHENTICATED
    EXPECT_STREQ(body["message"].GetString(), "missing or invalid credentials");
  }

  std::vector<std::pair<std::string, std::string>> Signed(const std::string& id,
                                                          const std::string& body = kBody) {
    const std::string timestamp = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
    return {{"webhook-id", id},
            {"webhook-timestamp", timestamp},
            {"webhook-signature",
             gateway::StandardWebhookSignature(*gateway::WebhookKeyFromSecret(kWebhookSecret), id,
                                               timestamp, body)}};
  }

  FakeSyncService fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

TEST_F(CallerAuthHttpTest, ProbesAndMetricsNeedNoCredentials) {
  EXPECT_EQ(Call("GET", "/healthz", {}).status, 200);
  EXPECT_EQ(Call("GET", "/metrics", {}).status, 200);
  EXPECT_NE(Call("GET", "/readyz", {}).status, 401);
}

TEST_F(CallerAuthHttpTest, EveryOtherRouteIsRefusedWithoutCredentials) {
  const std::string bearer = R"(Bearer realm="onsync")";
  ExpectUnauthorized(Call("POST", "/v1/outcomes/plain", {}), bearer);
  ExpectUnauthorized(Call("POST", "/sync", {{"authorization", "Bearer wrong"}}), bearer);
  ExpectUnauthorized(Call("GET", "/v1/jobs/j_1", {}), bearer);
  ExpectUnauthorized(Call("POST", "/onsync.v1.SyncService/ListProfiles", {}, "{}"), bearer);
  ExpectUnauthorized(Call("POST", "/no/such/route", {}), bearer);
  EXPECT_TRUE(fake_.calls().empty());
  EXPECT_EQ(Call("POST", "/v1/outcomes/plain", {{"authorization", "Bearer t0ken"}}).status, 200);
  EXPECT_EQ(fake_.calls().size(), 1u);
}

TEST_F(CallerAuthHttpTest, ASignedProfileTakesItsWebhooksOnceAndRetriesAfterAServerFailure) {
  const std::string webhook = R"(StandardWebhooks realm="onsync")";
  // The gateway's bearer token is not this profile's method.
  ExpectUnauthorized(Call("POST", "/v1/outcomes/signed", {{"authorization", "Bearer t0ken"}}),
                     webhook);
  const auto delivery = Signed("msg_1");
  EXPECT_EQ(Call("POST", "/v1/outcomes/signed", delivery).status, 200);
  ExpectUnauthorized(Call("POST", "/v1/outcomes/signed", delivery), webhook);  // replay
  // The body is signed: another body under the same headers is refused.
  ExpectUnauthorized(Call("POST", "/v1/outcomes/signed", Signed("msg_2"), R"({"recordId": 8})"),
                     webhook);

  fake_.Fail(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server busy"));
  const auto failed = Signed("msg_3");
  EXPECT_EQ(Call("POST", "/v1/outcomes/signed", failed).status, 503);
  onsync::v1::SyncRecordResponse response;
  response.mutable_result()->set_mode(onsync::v1::SYNC_MODE_RESPOND);
  response.mutable_result()->mutable_values();
  fake_.Answer(std::move(response));
  EXPECT_EQ(Call("POST", "/v1/outcomes/signed", failed).status, 200);  // the sender's retry
  EXPECT_EQ(fake_.calls().size(), 3u);
}

}  // namespace
}  // namespace onsync::testing
