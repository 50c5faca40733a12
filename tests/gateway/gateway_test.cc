// The gateway against a real in-process onsync server, over real sockets.
#include "gateway/gateway.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/service/server.h"
#include "tests/support/http_test_client.h"

namespace onsync::gateway {
namespace {

using ::onsync::testing::HttpRequest;
using ::onsync::testing::HttpResult;
using ::onsync::testing::HttpTestConnection;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kJson[] = "application/json";

google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) << body;
  return parsed;
}

// Asserts the documented error shape: {"code": <code>, "message": "...", "details": []}.
void ExpectError(const absl::StatusOr<HttpResult>& result, int http_status, int code,
                 const std::string& message_part) {
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, http_status) << result->body;
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
  const google::protobuf::Struct body = ParseJson(result->body);
  EXPECT_EQ(body.fields().at("code").number_value(), code) << result->body;
  EXPECT_THAT(body.fields().at("message").string_value(), HasSubstr(message_part));
  EXPECT_EQ(body.fields().at("details").list_value().values_size(), 0);
}

std::shared_ptr<const v1::Config> OneProfile() {
  auto config = std::make_shared<v1::Config>();
  v1::Profile& profile = (*config->mutable_profiles())["business_app"];
  profile.mutable_source()->set_table("cmdb_ci_business_app");
  profile.mutable_source()->set_key_field("name");
  return config;
}

// A TCP listener that accepts connections and never answers: gRPC calls to it hang until their
// deadline.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(fd_, 16);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class GatewayTest : public ::testing::Test {
 protected:
  void StartServer() {
    auto server = server::Server::Start(
        {.listen = "127.0.0.1:0", .config = OneProfile(), .jobs_db_path = ":memory:"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void StartGateway(GatewayOptions options) {
    options.listen = "127.0.0.1:0";
    if (options.server.empty() || options.server == GatewayOptions().server) {
      options.server = absl::StrCat("127.0.0.1:", server_->port());
    }
    auto gateway = Gateway::Start(std::move(options));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
  }

  void SetUp() override {
    StartServer();
    GatewayOptions options;
    options.metrics = &metrics_;
    options.max_body_bytes = 4096;
    options.max_header_bytes = 2048;
    options.read_timeout = absl::Milliseconds(300);
    StartGateway(options);
  }

  absl::StatusOr<HttpResult> Post(const std::string& target, const std::string& body,
                                  std::vector<std::pair<std::string, std::string>> headers = {
                                      {"Content-Type", kJson}}) {
    return HttpRequest("127.0.0.1", gateway_->port(), "POST", target, body, std::move(headers));
  }
  absl::StatusOr<HttpResult> Get(const std::string& target) {
    return HttpRequest("127.0.0.1", gateway_->port(), "GET", target);
  }

  metrics::Registry metrics_;  // outlives the gateway
  std::unique_ptr<server::Server> server_;
  std::unique_ptr<Gateway> gateway_;
};

TEST_F(GatewayTest, HealthzIsAlwaysOk) {
  const auto result = Get("/healthz");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(ParseJson(result->body).fields().at("status").string_value(), "ok");
}

TEST_F(GatewayTest, MetricsCountRequestsByRouteNameNeverTheRawPath) {
  ASSERT_EQ(Get("/healthz")->status, 200);
  ASSERT_EQ(Get("/healthz")->status, 200);
  ASSERT_EQ(Post("/onsync.v1.SyncService/ListProfiles", "{}")->status, 200);
  ASSERT_EQ(Post("/onsync.v1.SyncService/NoSuchSecretMethod", "{}")->status, 404);
  ASSERT_EQ(Get("/v1/jobs/j_secretjobid")->status, 404);
  ASSERT_EQ(Get("/private-path-xyz")->status, 404);
  ASSERT_EQ(Post("/healthz", "{}")->status, 405);

  auto scrape = Get("/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_EQ(scrape->status, 200);
  EXPECT_THAT(scrape->Header("content-type").value_or(""), HasSubstr("text/plain"));
  const std::string& text = scrape->body;
  EXPECT_THAT(text, HasSubstr("# TYPE http_requests_total counter\n"));
  EXPECT_THAT(
      text, HasSubstr("http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("http_requests_total{method=\"POST\",route=\"/healthz\","
                              "status=\"405\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("http_requests_total{method=\"POST\",route=\"/onsync.v1.SyncService\","
                        "status=\"200\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("http_requests_total{method=\"POST\",route=\"/onsync.v1.SyncService\","
                        "status=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("http_requests_total{method=\"GET\",route=\"/v1/jobs\","
                              "status=\"404\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("http_requests_total{method=\"GET\",route=\"other\",status=\"404\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE http_request_duration_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("http_request_duration_seconds_count{route=\"/healthz\"} 3\n"));
  for (const char* raw :
       {"NoSuchSecretMethod", "secretjobid", "private-path-xyz", "ListProfiles"}) {
    EXPECT_THAT(text, Not(HasSubstr(raw)));
  }

  // The scrape itself is counted (and is not refused by the concurrency cap).
  scrape = Get("/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_THAT(
      scrape->body,
      HasSubstr("http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"} 1\n"));
  EXPECT_EQ(Post("/metrics", "{}")->status, 405);
}

TEST_F(GatewayTest, ReadyzFollowsTheServersHealth) {
  auto result = Get("/readyz");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(ParseJson(result->body).fields().at("status").string_value(), "SERVING");

  server_->Shutdown(absl::ZeroDuration());
  ExpectError(Get("/readyz"), 503, 14, "");
}

TEST_F(GatewayTest, ProbesRejectOtherMethods) {
  for (const char* path : {"/healthz", "/readyz"}) {
    const auto result = Post(path, "{}");
    ExpectError(result, 405, 12, "not allowed");
    EXPECT_EQ(result->Header("allow").value_or(""), "GET");
  }
}

TEST_F(GatewayTest, ListProfilesAsProto3Json) {
  const auto result = Post("/onsync.v1.SyncService/ListProfiles", "{}");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
  const google::protobuf::Struct body = ParseJson(result->body);
  const auto& profiles = body.fields().at("profiles").list_value();
  ASSERT_EQ(profiles.values_size(), 1);
  const auto& info = profiles.values(0).struct_value().fields();
  EXPECT_EQ(info.at("name").string_value(), "business_app");
  const auto& source = info.at("profile").struct_value().fields().at("source").struct_value();
  EXPECT_EQ(source.fields().at("keyField").string_value(), "name");
}

TEST_F(GatewayTest, EmptyBodyIsAnEmptyRequest) {
  const auto result = Post("/onsync.v1.SyncService/ListProfiles", "", {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200) << result->body;
}

TEST_F(GatewayTest, ServerErrorsMapThroughTheTable) {
  ExpectError(Post("/onsync.v1.SyncService/SyncRecord",
                   R"({"profile":"nope","trigger":{"key":"Payroll"}})"),
              404, 5, "no profile named \"nope\"");
  ExpectError(Post("/onsync.v1.SyncService/GetJob", R"({"jobId":"j_1"})"), 404, 5, "j_1");
}

TEST_F(GatewayTest, UnknownMethodAndRouteAre404) {
  ExpectError(Post("/onsync.v1.SyncService/Frobnicate", "{}"), 404, 5, "Frobnicate");
  ExpectError(Post("/nowhere", "{}"), 404, 5, "/nowhere");
  ExpectError(Get("/"), 404, 5, "no route");
}

TEST_F(GatewayTest, WrongMethodIs405WithAllow) {
  const auto result = Get("/onsync.v1.SyncService/ListProfiles");
  ExpectError(result, 405, 12, "use POST");
  EXPECT_EQ(result->Header("allow").value_or(""), "POST");
}

TEST_F(GatewayTest, StreamingMethodIs501) {
  ExpectError(Post("/onsync.v1.SyncService/WatchJob", R"({"jobId":"j1"})"), 501, 12, "streaming");
}

TEST_F(GatewayTest, NonJsonContentTypeIs415) {
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", "{}", {{"Content-Type", "text/plain"}}),
              415, 3, "application/json");
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", "{}", {}), 415, 3, "application/json");
}

TEST_F(GatewayTest, MalformedJsonAndUnknownFieldsAre400) {
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", "{not json"), 400, 3,
              "onsync.v1.ListProfilesRequest");
  ExpectError(Post("/onsync.v1.SyncService/GetJob", R"({"jobId": 5, "colour": "red"})"), 400, 3,
              "onsync.v1.GetJobRequest");
  ExpectError(Post("/onsync.v1.SyncService/GetJob", R"(["array"])"), 400, 3, "GetJobRequest");
}

TEST_F(GatewayTest, BodyOverTheLimitIs413) {
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", std::string(5000, ' ')), 413, 8, "");
}

TEST_F(GatewayTest, HeadOverTheLimitIs431) {
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", "{}",
                   {{"Content-Type", kJson}, {"X-Padding", std::string(3000, 'p')}}),
              431, 8, "");
}

TEST_F(GatewayTest, MalformedGrpcTimeoutIs400) {
  ExpectError(Post("/onsync.v1.SyncService/ListProfiles", "{}",
                   {{"Content-Type", kJson}, {"grpc-timeout", "soon"}}),
              400, 3, "grpc-timeout");
}

TEST_F(GatewayTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto connection = HttpTestConnection::Connect("127.0.0.1", gateway_->port());
  ASSERT_TRUE(connection.ok()) << connection.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection
                    ->SendRaw("POST /onsync.v1.SyncService/ListProfiles HTTP/1.1\r\n"
                              "Host: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\n\r\n{}")
                    .ok());
    const auto result = connection->ReadResponse();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, 200);
  }
}

TEST_F(GatewayTest, SlowClientIsDroppedAfterTheReadTimeout) {
  auto connection = HttpTestConnection::Connect("127.0.0.1", gateway_->port());
  ASSERT_TRUE(connection.ok()) << connection.status();
  ASSERT_TRUE(connection->SendRaw("POST /onsync.v1.SyncService/ListProfiles HTTP/1.1\r\nHo").ok());
  EXPECT_TRUE(connection->IsClosedByPeer(absl::Seconds(10)));
}

TEST(GatewayUpstreamTest, UnreachableServerIs503) {
  GatewayOptions options;
  options.listen = "127.0.0.1:0";
  {
    SilentListener placeholder;  // reserves a port number, then frees it
    options.server = absl::StrCat("127.0.0.1:", placeholder.port());
  }
  auto gateway = Gateway::Start(options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  ExpectError(HttpRequest("127.0.0.1", (*gateway)->port(), "POST",
                          "/onsync.v1.SyncService/ListProfiles", "{}", {{"Content-Type", kJson}}),
              503, 14, "");
  ExpectError(HttpRequest("127.0.0.1", (*gateway)->port(), "GET", "/readyz"), 503, 14,
              "not reachable");
}

TEST(GatewayUpstreamTest, DeadlineIs504AndTheConcurrencyCapAnswers503) {
  SilentListener silent;
  GatewayOptions options;
  options.listen = "127.0.0.1:0";
  options.server = absl::StrCat("127.0.0.1:", silent.port());
  options.max_concurrent_requests = 1;
  auto gateway = Gateway::Start(options);
  ASSERT_TRUE(gateway.ok()) << gateway.status();
  const int port = (*gateway)->port();

  // A slow call (its server never answers) holds the only slot until its deadline. Probes with
  // a 1 ms deadline then find the gateway busy. Should a probe take the slot before the slow
  // call is dispatched, the slow call is refused and the round is repeated.
  for (int round = 0; round < 5; ++round) {
    auto slow = HttpTestConnection::Connect("127.0.0.1", port);
    ASSERT_TRUE(slow.ok()) << slow.status();
    ASSERT_TRUE(slow->SendRaw("POST /onsync.v1.SyncService/ListProfiles HTTP/1.1\r\nHost: x\r\n"
                              "Content-Type: application/json\r\ngrpc-timeout: 1500m\r\n"
                              "Content-Length: 2\r\n\r\n{}")
                    .ok());
    absl::StatusOr<HttpResult> busy;
    for (int i = 0; i < 200; ++i) {
      busy = HttpRequest("127.0.0.1", port, "POST", "/onsync.v1.SyncService/ListProfiles", "{}",
                         {{"Content-Type", kJson}, {"grpc-timeout", "1m"}});
      if (busy.ok() && busy->status == 503) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    // Scrapes are not counted by the cap: they answer while the gateway is full.
    const absl::StatusOr<HttpResult> scrape = HttpRequest("127.0.0.1", port, "GET", "/metrics");
    ASSERT_TRUE(scrape.ok()) << scrape.status();
    EXPECT_EQ(scrape->status, 200);
    const absl::StatusOr<HttpResult> slow_result = slow->ReadResponse();
    ASSERT_TRUE(slow_result.ok()) << slow_result.status();
    if (slow_result->status == 503) continue;  // a probe won the race for the slot
    ExpectError(busy, 503, 14, "too many requests");
    EXPECT_EQ(busy->Header("retry-after").value_or(""), "1");
    ExpectError(slow_result, 504, 4, "");
    return;
  }
  FAIL() << "the slow call never held the slot";
}

}  // namespace
}  // namespace onsync::gateway
