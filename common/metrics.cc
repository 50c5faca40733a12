#include "common/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>

namespace onsync::metrics {

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double>* const kBuckets = new std::vector<double>{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return *kBuckets;
}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    id_ = other.id_;
  }
  return *this;
}

void CollectorHandle::Reset() {
  if (registry_ != nullptr) std::exchange(registry_, nullptr)->RemoveCollector(id_);
}

Registry::Registry() : registry_(std::make_shared<prometheus::Registry>()) {}

Registry::~Registry() = default;

Registry& Registry::Default() {
  static Registry* const kDefault = new Registry();
  return *kDefault;
}

CounterFamily Registry::Counter(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names) {
  auto& family = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  return CounterFamily(&family, std::move(label_names));
}

GaugeFamily Registry::Gauge(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names) {
  auto& family = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  return GaugeFamily(&family, std::move(label_names));
}

HistogramFamily Registry::Histogram(const std::string& name, const std::string& help,
                                    std::vector<std::string> label_names,
                                    std::vector<double> buckets) {
  auto& family = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  return HistogramFamily(&family, std::move(label_names), std::move(buckets));
}

CollectorHandle Registry::AddCollector(Collector collect) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t id = next_id_++;
  collectors_.emplace(id, std::move(collect));
  return CollectorHandle(this, id);
}

void Registry::RemoveCollector(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.erase(id);
}

std::vector<prometheus::MetricFamily> Registry::Collect() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, collect] : collectors_) {
      for (prometheus::MetricFamily& family : collect()) families.push_back(std::move(family));
    }
  }
  std::stable_sort(families.begin(), families.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<prometheus::MetricFamily> merged;
  for (prometheus::MetricFamily& family : families) {
    if (!merged.empty() && merged.back().name == family.name && merged.back().type == family.type) {
      for (auto& metric : family.metric) merged.back().metric.push_back(std::move(metric));
      continue;
    }
    merged.push_back(std::move(family));
  }
  // Families registered but never given a label set have no samples: leave them out.
  std::erase_if(merged, [](const auto& family) { return family.metric.empty(); });
  return merged;
}

std::string Registry::Serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, Collect());
  return out.str();
}

prometheus::MetricFamily CounterSnapshot(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Counter;
  return family;
}

prometheus::MetricFamily GaugeSnapshot(std::string name, std::string help) {
  prometheus::MetricFamily family = CounterSnapshot(std::move(name), std::move(help));
  family.type = prometheus::MetricType::Gauge;
  return family;
}

void AddSample(prometheus::MetricFamily& family,
               std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
               double value) {
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) {
    metric.label.push_back({std::string(name), std::string(label_value)});
  }
  if (family.type == prometheus::MetricType::Gauge) {
    metric.gauge.value = value;
  } else {
    metric.counter.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace onsync::metrics
