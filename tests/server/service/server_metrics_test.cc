// The server's admin listener: GET /metrics after syncs against the in-process sandbox shows the
// gRPC calls by method and code, the upstream attempts by system and operation, the engine's
// counters and the job store's gauges, and never a value from a request.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/config/config_loader.h"
#include "server/service/server.h"
#include "tests/sandbox/sandbox.h"
#include "tests/server/config/fake_secret_source.h"
#include "tests/server/service/sandbox_server_test_base.h"
#include "tests/support/http_test_client.h"
#include "tests/support/process.h"

namespace onsync::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ServerMetricsTest : public SandboxServerTest {
 protected:
  // The server goes before metrics_ (a member of this class, so destroyed before the base's).
  void TearDown() override {
    SandboxServerTest::TearDown();
    server_.reset();
  }

  // The example profiles connected to the sandbox; the admin listener from `server_yaml` or
  // `admin_listen`.
  void StartServer(const std::string& server_yaml, const std::string& admin_listen) {
    ASSERT_NO_FATAL_FAILURE(
        StartServerWith(server_yaml, "", {.admin_listen = admin_listen, .metrics = &metrics_}));
  }

  grpc::Status Sync(const std::string& profile, const std::string& key) {
    v1::SyncRecordRequest request;
    request.set_profile(profile);
    request.mutable_trigger()->set_key(key);
    v1::SyncRecordResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub_->SyncRecord(&context, request, &response);
  }

  std::string Scrape() {
    auto result =
        onsync::testing::HttpRequest("127.0.0.1", server_->admin_port(), "GET", "/metrics");
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return "";
    EXPECT_EQ(result->status, 200);
    EXPECT_THAT(result->Header("content-type").value_or(""), HasSubstr("text/plain"));
    return result->body;
  }

  metrics::Registry metrics_;  // outlives the server
};

TEST_F(ServerMetricsTest, AdminListenerServesMetricsAfterASync) {
  StartServer("", "127.0.0.1:0");
  ASSERT_NE(server_->admin_port(), 0);
  ASSERT_TRUE(Sync("business_app_write_back", "Payroll").ok());
  ASSERT_TRUE(Sync("business_app", "Payroll").ok());
  ASSERT_EQ(Sync("business_app", "NoSuchSecretApp").error_code(), grpc::StatusCode::NOT_FOUND);

  const std::string text = Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE grpc_server_handled_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"SyncRecord\","
                        "grpc_service=\"onsync.v1.SyncService\"} 2\n"));
  EXPECT_THAT(text,
              HasSubstr("grpc_server_handled_total{grpc_code=\"NOT_FOUND\","
                        "grpc_method=\"SyncRecord\",grpc_service=\"onsync.v1.SyncService\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{grpc_method=\"SyncRecord\","
                              "grpc_service=\"onsync.v1.SyncService\"} 3\n"));
  // Upstream attempts by system and operation: the ServiceNow reads, the Onspring lookups.
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"table_read\",status=\"2xx\","
                              "system=\"servicenow\"}"));
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"records_query\",status=\"2xx\","
                              "system=\"onspring\"}"));
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"records_save\",status=\"2xx\","
                              "system=\"onspring\"}"));
  EXPECT_THAT(text, HasSubstr("upstream_request_duration_seconds_bucket{operation=\"table_read\","
                              "system=\"servicenow\",le=\"+Inf\"}"));
  EXPECT_THAT(text, HasSubstr("\nupstream_retries_total 0\n"));
  EXPECT_THAT(text, HasSubstr("\nupstream_retry_budget_exhausted_total 0\n"));
  // The engine: three runs, one write, cache traffic.
  EXPECT_THAT(text, HasSubstr("sync_runs_total{grpc_code=\"OK\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("sync_runs_total{grpc_code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nsync_records_written_total 1\n"));
  EXPECT_THAT(text, HasSubstr("\nsync_records_created_total "));
  EXPECT_THAT(text, HasSubstr("engine_cache_hits_total{cache=\"references\"} "));
  EXPECT_THAT(text, HasSubstr("engine_cache_misses_total{cache=\"fields\"} "));
  // The job store.
  EXPECT_THAT(text, HasSubstr("jobs{state=\"QUEUED\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("jobs{state=\"DEAD\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\njobs_queue_depth 0\n"));
  EXPECT_THAT(text, HasSubstr("\njobs_oldest_queued_age_seconds 0\n"));
  // No value from a request: keys, profiles, tables, hosts.
  for (const char* value :
       {"Payroll", "NoSuchSecretApp", "business_app", "cmdb_ci_business_app", "127.0.0.1"}) {
    EXPECT_THAT(text, Not(HasSubstr(value))) << value;
  }
}

TEST_F(ServerMetricsTest, AdminListenerFromConfigServesOnlyMetrics) {
  StartServer("server: {admin_listen: \"127.0.0.1:0\"}\n", "");
  ASSERT_NE(server_->admin_port(), 0);
  auto other = onsync::testing::HttpRequest("127.0.0.1", server_->admin_port(), "GET", "/x");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->status, 404);
  auto post =
      onsync::testing::HttpRequest("127.0.0.1", server_->admin_port(), "POST", "/metrics", "{}");
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(post->status, 405);
  // Health checks are RPCs too.
  EXPECT_THAT(Scrape(), HasSubstr("jobs_queue_depth"));
}

TEST_F(ServerMetricsTest, NoAdminListenerByDefault) {
  StartServer("", "");
  EXPECT_EQ(server_->admin_port(), 0);
}

}  // namespace
}  // namespace onsync::server
