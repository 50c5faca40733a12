// Test fixture for the routes that call SyncRecord: an in-process fake `onsync.v1.SyncService`
// (a gRPC server on 127.0.0.1, port 0) that records every SyncRecord call and answers what the
// test set, and a real Gateway (127.0.0.1, port 0) pointed at it, reached over real sockets.
//
// Thread safety: FakeSyncService may be called from gRPC's threads while the test reads it; the
// fixture itself is used from the test's thread.
#ifndef ONSYNC_TESTS_GATEWAY_SYNC_ROUTES_FIXTURE_H_
#define ONSYNC_TESTS_GATEWAY_SYNC_ROUTES_FIXTURE_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/gateway.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "tests/support/http_test_client.h"

namespace onsync::testing {

// One SyncRecord call as the fake received it.
struct ReceivedSync {
  onsync::v1::SyncRecordRequest request;
  std::multimap<std::string, std::string> metadata;
  // The call's deadline minus the time it arrived.
  absl::Duration time_left;
};

class FakeSyncService final : public onsync::v1::SyncService::CallbackService {
 public:
  grpc::ServerUnaryReactor* SyncRecord(grpc::CallbackServerContext* context,
                                       const onsync::v1::SyncRecordRequest* request,
                                       onsync::v1::SyncRecordResponse* response) override {
    ReceivedSync received;
    received.request = *request;
    received.time_left = absl::FromChrono(context->deadline()) - absl::Now();
    for (const auto& [name, value] : context->client_metadata()) {
      received.metadata.emplace(std::string(name.data(), name.size()),
                                std::string(value.data(), value.size()));
    }
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(std::move(received));
      *response = response_;
      status = status_;
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  // GetJob answers `job` when the id matches, else NOT_FOUND.
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const onsync::v1::GetJobRequest* request,
                                   onsync::v1::GetJobResponse* response) override {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      job_requests_.push_back(request->job_id());
      if (request->job_id() == job_.id()) {
        *response->mutable_job() = job_;
      } else {
        status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no job " + request->job_id());
      }
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  void SetJob(onsync::v1::Job job) {
    absl::MutexLock lock(&mu_);
    job_ = std::move(job);
  }

  std::vector<std::string> job_requests() const {
    absl::MutexLock lock(&mu_);
    return job_requests_;
  }

  // The next calls succeed with `response`.
  void Answer(onsync::v1::SyncRecordResponse response) {
    absl::MutexLock lock(&mu_);
    response_ = std::move(response);
    status_ = grpc::Status::OK;
  }

  // The next calls fail with `status`.
  void Fail(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    status_ = std::move(status);
  }

  std::vector<ReceivedSync> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<ReceivedSync> calls_ ABSL_GUARDED_BY(mu_);
  onsync::v1::SyncRecordResponse response_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  onsync::v1::Job job_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> job_requests_ ABSL_GUARDED_BY(mu_);
};

inline constexpr char kJson[] = "application/json";

// gRPC sends a deadline as a timeout rounded up (to a coarser unit), so the server may see a few
// milliseconds more than the client set.
inline constexpr absl::Duration kTimeoutRounding = absl::Milliseconds(100);

inline google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) << body;
  return parsed;
}

// Asserts the documented error shape: {"code": <code>, "message": "...", "details": []}.
inline void ExpectError(const absl::StatusOr<HttpResult>& result, int http_status, int code,
                        const std::string& message_part) {
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, http_status) << result->body;
  EXPECT_EQ(result->Header("content-type").value_or(""), kJson);
  const google::protobuf::Struct body = ParseJson(result->body);
  ASSERT_TRUE(body.fields().contains("code")) << result->body;
  EXPECT_EQ(body.fields().at("code").number_value(), code) << result->body;
  EXPECT_THAT(body.fields().at("message").string_value(), ::testing::HasSubstr(message_part));
  EXPECT_EQ(body.fields().at("details").list_value().values_size(), 0);
}

class SyncRoutesTest : public ::testing::Test {
 protected:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  static constexpr absl::Duration kDefaultDeadline = absl::Seconds(7);
  static constexpr absl::Duration kMaxDeadline = absl::Seconds(9);

  void SetUp() override {
    grpc::ServerBuilder builder;
    int server_port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &server_port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(server_port, 0);

    gateway::GatewayOptions options;
    options.listen = "127.0.0.1:0";
    options.server = absl::StrCat("127.0.0.1:", server_port);
    options.deadlines = {.default_deadline = kDefaultDeadline, .max_deadline = kMaxDeadline};
    auto started = gateway::Gateway::Start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.status();
    gateway_ = *std::move(started);
  }

  void TearDown() override {
    gateway_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  absl::StatusOr<HttpResult> Request(const std::string& method, const std::string& target,
                                     const std::string& body, Headers headers) {
    return HttpRequest("127.0.0.1", gateway_->port(), method, target, body, std::move(headers));
  }

  FakeSyncService fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<gateway::Gateway> gateway_;
};

}  // namespace onsync::testing

#endif  // ONSYNC_TESTS_GATEWAY_SYNC_ROUTES_FIXTURE_H_
