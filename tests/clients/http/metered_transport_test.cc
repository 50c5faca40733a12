// MeteredTransport: the classification of upstream requests into fixed (system, operation)
// labels, and one sample per attempt with the status class or transport error.
#include "clients/http/metered_transport.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/fake_transport.h"

namespace onsync::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Case {
  const char* method;
  const char* url;
  std::string system;
  std::string operation;
};

TEST(ClassifyUpstreamRequestTest, FixedOperationsFromMethodAndPathShape) {
  const Case cases[] = {
      {"GET",
       "https://acme.service-now.com/api/now/table/cmdb_ci_business_app?sysparm_query=name%3DX",
       "servicenow", "table_read"},
      {"PATCH", "https://acme.service-now.com/api/now/table/incident/abc", "servicenow",
       "table_write"},
      {"POST", "https://acme.service-now.com/oauth_token.do", "servicenow", "oauth_token"},
      {"POST", "https://api.onspring.com/Records/Query?PageNumber=1&PageSize=100", "onspring",
       "records_query"},
      {"POST", "https://api.onspring.com/Records/batch-get", "onspring", "records_get"},
      {"GET", "https://api.onspring.com/Records/appId/12/recordId/4?fieldIds=1", "onspring",
       "records_get"},
      {"DELETE", "https://api.onspring.com/Records/appId/12/recordId/4", "onspring",
       "records_delete"},
      {"PUT", "https://api.onspring.com/Records", "onspring", "records_save"},
      {"PUT", "http://127.0.0.1:8082/prefix/records", "onspring", "records_save"},
      {"GET", "https://api.onspring.com/Fields/appId/12?PageNumber=1", "onspring", "fields_read"},
      {"PUT", "https://api.onspring.com/Lists/id/77/items", "onspring", "list_add"},
      {"GET", "https://example.com/secret-path/x", "other", "other"},
      {"GET", "not a url", "other", "other"},
  };
  for (const Case& c : cases) {
    const UpstreamOperation op = ClassifyUpstreamRequest(c.method, c.url);
    EXPECT_EQ(op.system, c.system) << c.method << " " << c.url;
    EXPECT_EQ(op.operation, c.operation) << c.method << " " << c.url;
  }
}

TEST(UpstreamStatusLabelTest, ClassOrTransportCode) {
  EXPECT_EQ(UpstreamStatusLabel(HttpResponse{.status = 200}), "2xx");
  EXPECT_EQ(UpstreamStatusLabel(HttpResponse{.status = 404}), "4xx");
  EXPECT_EQ(UpstreamStatusLabel(HttpResponse{.status = 503}), "5xx");
  EXPECT_EQ(UpstreamStatusLabel(absl::UnavailableError("connect")), "UNAVAILABLE");
  EXPECT_EQ(UpstreamStatusLabel(absl::DeadlineExceededError("slow")), "DEADLINE_EXCEEDED");
}

TEST(MeteredTransportTest, CountsEveryAttemptByLabels) {
  testing::FakeTransport inner;
  inner.Enqueue(200, "{}");
  inner.Enqueue(503, "busy");
  inner.Enqueue(absl::UnavailableError("connection refused"));
  metrics::Registry registry;
  MeteredTransport metered(inner, registry);
  for (int i = 0; i < 3; ++i) {
    testing::Capture<absl::StatusOr<HttpResponse>> done;
    HttpRequest request;
    request.url = "https://acme.service-now.com/api/now/table/sys_user?sysparm_query=secret";
    metered.Send(std::move(request), done.Callback());
    done.Wait();
  }
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"table_read\",status=\"2xx\","
                              "system=\"servicenow\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"table_read\",status=\"5xx\","
                              "system=\"servicenow\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("upstream_requests_total{operation=\"table_read\","
                              "status=\"UNAVAILABLE\",system=\"servicenow\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("upstream_request_duration_seconds_count{operation=\"table_read\","
                              "system=\"servicenow\"} 3\n"));
  EXPECT_THAT(text, Not(HasSubstr("sys_user")));
  EXPECT_THAT(text, Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace onsync::clients
