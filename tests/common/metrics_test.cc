// The metrics library: registration with fixed label names, scrape-time collectors, and the
// Prometheus text format.
#include "common/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CountersAndHistogramsInTextFormat) {
  Registry registry;
  CounterFamily requests = registry.Counter("test_requests_total", "Requests.", {"route", "code"});
  requests.With({"/a", "200"}).Increment();
  requests.With({"/a", "200"}).Increment();
  requests.With({"/b", "500"}).Increment();
  HistogramFamily latency = registry.Histogram("test_latency_seconds", "Latency.", {"route"});
  latency.With({"/a"}).Observe(0.003);

  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("# HELP test_requests_total Requests.\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_requests_total counter\n"));
  // Labels in name order.
  EXPECT_THAT(text, HasSubstr("test_requests_total{code=\"200\",route=\"/a\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("test_requests_total{code=\"500\",route=\"/b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_latency_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_bucket{route=\"/a\",le=\"0.0025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_latency_seconds_count{route=\"/a\"} 1\n"));
}

TEST(MetricsTest, WrongLabelCountIsPaddedNotThrown) {
  Registry registry;
  CounterFamily family = registry.Counter("test_pad_total", "Padded.", {"a", "b"});
  family.With({"x"}).Increment();
  family.With({"x", "y", "z"}).Increment();
  const std::string text = registry.Serialize();
  EXPECT_THAT(text, HasSubstr("test_pad_total{a=\"x\",b=\"\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_pad_total{a=\"x\",b=\"y\"} 1\n"));
}

TEST(MetricsTest, RegisteringAgainReturnsTheSameFamily) {
  Registry registry;
  registry.Counter("test_same_total", "Same.", {"k"}).With({"v"}).Increment();
  registry.Counter("test_same_total", "Same.", {"k"}).With({"v"}).Increment();
  EXPECT_THAT(registry.Serialize(), HasSubstr("test_same_total{k=\"v\"} 2\n"));
}

TEST(MetricsTest, FamiliesWithoutSamplesAreLeftOut) {
  Registry registry;
  registry.Counter("test_unused_total", "Unused.", {"k"});
  EXPECT_THAT(registry.Serialize(), Not(HasSubstr("test_unused_total")));
}

TEST(MetricsTest, CollectorsRunAtScrapeTimeUntilTheirHandleGoes) {
  Registry registry;
  int calls = 0;
  CollectorHandle handle = registry.AddCollector([&calls] {
    ++calls;
    prometheus::MetricFamily retries = CounterSnapshot("test_retries_total", "Retries.");
    AddSample(retries, {}, 7);
    prometheus::MetricFamily jobs = GaugeSnapshot("test_jobs", "Jobs.");
    AddSample(jobs, {{"state", "QUEUED"}}, 3);
    AddSample(jobs, {{"state", "DEAD"}}, 0);
    return std::vector<prometheus::MetricFamily>{retries, jobs};
  });
  std::string text = registry.Serialize();
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(text, HasSubstr("# TYPE test_retries_total counter\ntest_retries_total 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE test_jobs gauge\n"));
  EXPECT_THAT(text, HasSubstr("test_jobs{state=\"QUEUED\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("test_jobs{state=\"DEAD\"} 0\n"));

  handle.Reset();
  text = registry.Serialize();
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(text, Not(HasSubstr("test_retries_total")));
}

TEST(MetricsTest, FamiliesOfOneNameAreMergedOnce) {
  Registry registry;
  auto collect = [](std::string_view instance) {
    return [instance] {
      prometheus::MetricFamily family = GaugeSnapshot("test_merged", "Merged.");
      AddSample(family, {{"instance", instance}}, 1);
      return std::vector<prometheus::MetricFamily>{family};
    };
  };
  CollectorHandle first = registry.AddCollector(collect("a"));
  CollectorHandle second = registry.AddCollector(collect("b"));
  const std::string text = registry.Serialize();
  EXPECT_EQ(text.find("# TYPE test_merged gauge"), text.rfind("# TYPE test_merged gauge"));
  EXPECT_THAT(text, HasSubstr("test_merged{instance=\"a\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("test_merged{instance=\"b\"} 1\n"));
}

TEST(MetricsTest, DefaultIsOneRegistry) { EXPECT_EQ(&Registry::Default(), &Registry::Default()); }

}  // namespace
}  // namespace onsync::metrics
