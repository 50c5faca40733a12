#include "server/service/health_service.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/service/server.h"

namespace onsync::server {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = Server::Start({.listen = "127.0.0.1:0",
                                 .config = std::make_shared<v1::Config>(),
                                 .jobs_db_path = ":memory:"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Health::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                                grpc::InsecureChannelCredentials()));
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    HealthCheckRequest request;
    request.set_service(service);
    return stub_->Check(&context, request, response);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, ServerAndSyncServiceAreServing) {
  for (const std::string service : {"", "onsync.v1.SyncService"}) {
    HealthCheckResponse response;
    const grpc::Status status = Check(service, &response);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }
}

TEST_F(HealthServiceTest, UnknownServiceIsNotFound) {
  HealthCheckResponse response;
  EXPECT_EQ(Check("no.such.Service", &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HealthServiceTest, WatchSeesCurrentStatusThenNotServingAtShutdownAndEnds) {
  grpc::ClientContext context;
  HealthCheckRequest request;
  auto reader = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  std::thread stopper([this] { server_->Shutdown(absl::Seconds(5)); });
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_TRUE(reader->Finish().ok());
  stopper.join();
}

TEST_F(HealthServiceTest, WatchOfUnknownServiceSaysServiceUnknown) {
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("later.Service");
  auto reader = stub_->Watch(&context, request);
  HealthCheckResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST(HealthServiceUnitTest, StatusChangesReachCheckAndFreezeAfterShutdown) {
  HealthService health;
  health.SetServingStatus("svc", true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto stub = Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  const auto check = [&]() {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service("svc");
    HealthCheckResponse response;
    EXPECT_TRUE(stub->Check(&context, request, &response).ok());
    return response.status();
  };
  EXPECT_EQ(check(), HealthCheckResponse::SERVING);
  health.SetServingStatus("svc", false);
  EXPECT_EQ(check(), HealthCheckResponse::NOT_SERVING);
  health.SetServingStatus("svc", true);
  health.Shutdown();
  EXPECT_EQ(check(), HealthCheckResponse::NOT_SERVING);
  health.SetServingStatus("svc", true);
  EXPECT_EQ(check(), HealthCheckResponse::NOT_SERVING);
  server->Shutdown();
}

}  // namespace
}  // namespace onsync::server
