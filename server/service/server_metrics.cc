#include "server/service/server_metrics.h"

#include <google/protobuf/descriptor.h>

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "onsync/v1/job.pb.h"

namespace onsync::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// gRPC's canonical code names (grpc::StatusCode has the same values as absl::StatusCode).
std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Splits "/package.Service/Method" into labels, keeping only what a linked service descriptor
// names (a client can send any path; its text never becomes a label).
std::pair<std::string, std::string> MethodLabels(std::string_view path) {
  const std::pair<std::string, std::string> unknown = {"unknown", "unknown"};
  if (path.size() < 3 || path.front() != '/') return unknown;
  path.remove_prefix(1);
  const size_t slash = path.find('/');
  if (slash == std::string_view::npos) return unknown;
  const std::string service(path.substr(0, slash));
  const std::string method(path.substr(slash + 1));
  const google::protobuf::ServiceDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
  if (descriptor == nullptr) return unknown;
  if (descriptor->FindMethodByName(method) == nullptr) return {service, "unknown"};
  return {service, method};
}

class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(const metrics::CounterFamily& handled,
                     const metrics::HistogramFamily& handling, std::string_view method)
      : handled_(handled), handling_(handling), labels_(MethodLabels(method)) {}

  ~MetricsInterceptor() override {
    // A call that ended without a status sent (cancelled by the client, or the server stopped).
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // Recorded before the status goes out, so that a client's next scrape sees the call.
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    handled_.With({labels_.first, labels_.second, CodeName(code)}).Increment();
    handling_.With({labels_.first, labels_.second})
        .Observe(absl::ToDoubleSeconds(absl::Now() - start_));
  }

  const metrics::CounterFamily& handled_;
  const metrics::HistogramFamily& handling_;
  const std::pair<std::string, std::string> labels_;
  const absl::Time start_ = absl::Now();
  bool recorded_ = false;  // hooks of one call run one at a time
};

class MetricsInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(metrics::Registry& registry)
      : handled_(registry.Counter("grpc_server_handled_total",
                                  "RPCs completed on the server, by service, method and code.",
                                  {"grpc_service", "grpc_method", "grpc_code"})),
        handling_(registry.Histogram("grpc_server_handling_seconds",
                                     "Time from the start of an RPC to its status, by service "
                                     "and method.",
                                     {"grpc_service", "grpc_method"})) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(handled_, handling_, info->method() ? info->method() : "");
  }

 private:
  const metrics::CounterFamily handled_;
  const metrics::HistogramFamily handling_;
};

void AddCache(prometheus::MetricFamily& hits, prometheus::MetricFamily& misses,
              prometheus::MetricFamily& entries, std::string_view cache,
              const engine::CacheStats& stats) {
  metrics::AddSample(hits, {{"cache", cache}}, static_cast<double>(stats.hits));
  metrics::AddSample(misses, {{"cache", cache}}, static_cast<double>(stats.misses));
  metrics::AddSample(entries, {{"cache", cache}}, static_cast<double>(stats.size));
}

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeGrpcMetricsInterceptor(
    metrics::Registry& registry) {
  return std::make_unique<MetricsInterceptorFactory>(registry);
}

std::vector<prometheus::MetricFamily> CollectServerMetrics(const SyncServiceImpl& service) {
  std::vector<prometheus::MetricFamily> families;
  if (std::optional<clients::RetryStats> retry = service.retry_stats()) {
    auto calls = metrics::CounterSnapshot(
        "upstream_calls_total",
        "Upstream calls made by the clients (all attempts of one call: 1).");
    metrics::AddSample(calls, {}, static_cast<double>(retry->calls));
    auto retries = metrics::CounterSnapshot("upstream_retries_total",
                                            "Upstream retries scheduled by the retry policy.");
    metrics::AddSample(retries, {}, static_cast<double>(retry->retries));
    auto exhausted = metrics::CounterSnapshot("upstream_retry_budget_exhausted_total",
                                              "Upstream retries refused by the retry budget.");
    metrics::AddSample(exhausted, {}, static_cast<double>(retry->budget_exhausted));
    families.push_back(std::move(calls));
    families.push_back(std::move(retries));
    families.push_back(std::move(exhausted));
  }

  const engine::EngineStats engine = service.engine_stats();
  auto hits = metrics::CounterSnapshot("engine_cache_hits_total", "Engine cache hits, by cache.");
  auto misses =
      metrics::CounterSnapshot("engine_cache_misses_total", "Engine cache misses, by cache.");
  auto entries = metrics::GaugeSnapshot("engine_cache_entries", "Engine cache entries, by cache.");
  AddCache(hits, misses, entries, "references", engine.references);
  AddCache(hits, misses, entries, "fields", engine.fields);
  families.push_back(std::move(hits));
  families.push_back(std::move(misses));
  families.push_back(std::move(entries));

  auto runs = metrics::CounterSnapshot(
      "sync_runs_total", "Syncs run by the engine (events and batch rows), by outcome.");
  for (size_t code = 0; code < engine::kStatusCodes; ++code) {
    if (engine.runs_by_code[code] == 0 && code != 0) continue;
    metrics::AddSample(runs, {{"grpc_code", CodeName(static_cast<int>(code))}},
                       static_cast<double>(engine.runs_by_code[code]));
  }
  families.push_back(std::move(runs));
  auto created = metrics::CounterSnapshot("sync_records_created_total",
                                          "Referenced Onspring records created by syncs.");
  metrics::AddSample(created, {}, static_cast<double>(engine.records_created));
  auto written = metrics::CounterSnapshot("sync_records_written_total",
                                          "Onspring records saved by write-back syncs.");
  metrics::AddSample(written, {}, static_cast<double>(engine.records_written));
  families.push_back(std::move(created));
  families.push_back(std::move(written));

  jobs::JobStore* store = service.job_store();
  if (store == nullptr) return families;
  if (auto counts = store->CountByState(); counts.ok()) {
    auto jobs = metrics::GaugeSnapshot("jobs", "Jobs in the job store, by state.");
    for (int state = v1::JobState_MIN; state <= v1::JobState_MAX; ++state) {
      if (state == v1::JOB_STATE_UNSPECIFIED || !v1::JobState_IsValid(state)) continue;
      const auto it = counts->find(static_cast<v1::JobState>(state));
      std::string name = v1::JobState_Name(static_cast<v1::JobState>(state));
      if (name.rfind("JOB_STATE_", 0) == 0) name = name.substr(10);
      metrics::AddSample(jobs, {{"state", name}},
                         it == counts->end() ? 0.0 : static_cast<double>(it->second));
    }
    families.push_back(std::move(jobs));
  }
  if (auto queue = store->Queue(); queue.ok()) {
    auto depth = metrics::GaugeSnapshot("jobs_queue_depth",
                                        "Jobs due and waiting for a worker (QUEUED, FAILED due).");
    metrics::AddSample(depth, {}, static_cast<double>(queue->depth));
    auto age = metrics::GaugeSnapshot(
        "jobs_oldest_queued_age_seconds",
        "How long the longest-waiting due job has been due; 0 when none waits.");
    const double seconds =
        queue->oldest_due.has_value()
            ? std::max(0.0, absl::ToDoubleSeconds(absl::Now() - *queue->oldest_due))
            : 0.0;
    metrics::AddSample(age, {}, seconds);
    families.push_back(std::move(depth));
    families.push_back(std::move(age));
  }
  return families;
}

}  // namespace onsync::server
