// Prometheus metrics for every onsync binary, on prometheus-cpp's core library (no Exposer: the
// text is served by our own HTTP servers, the gateway's and the server's admin listener).
//
// One Registry per process (Registry::Default()); components take a `Registry*` so that tests can
// give each instance its own. Families are registered with a fixed list of label names; a label
// value must come from a small fixed set chosen by the code (a route name, a status class), never
// from a request body, a raw path or a secret. Values that other components already count (retry
// stats, cache stats, job counts) are read at scrape time by collectors (AddCollector).
//
// Thread safety: every method is thread-safe. Counter/histogram handles returned by With() stay
// valid as long as the Registry. A collector runs on the scraping thread while the registry's
// collector lock is held, so a CollectorHandle's destructor waits for a scrape in progress; a
// collector must not block for long and must not register or unregister collectors.
#ifndef ONSYNC_COMMON_METRICS_H_
#define ONSYNC_COMMON_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace onsync::metrics {

// Latency buckets in seconds, 1 ms to 30 s.
const std::vector<double>& LatencyBuckets();

// "Content-Type" of the text exposition format.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A family with fixed label names. `With` takes the values in the order of the names (a wrong
// count is padded with "" / truncated, never thrown).
template <typename T>
class FamilyOf {
 public:
  FamilyOf() = default;
  FamilyOf(prometheus::Family<T>* family, std::vector<std::string> label_names,
           std::vector<double> buckets = {})
      : family_(family), label_names_(std::move(label_names)), buckets_(std::move(buckets)) {}

  T& With(std::initializer_list<std::string_view> values) const {
    std::map<std::string, std::string> labels;
    auto value = values.begin();
    for (const std::string& name : label_names_) {
      labels.emplace(name, value != values.end() ? std::string(*value++) : std::string());
    }
    if constexpr (std::is_same_v<T, prometheus::Histogram>) {
      return family_->Add(labels, buckets_);
    } else {
      return family_->Add(labels);
    }
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  prometheus::Family<T>* family_ = nullptr;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
};

using CounterFamily = FamilyOf<prometheus::Counter>;
using GaugeFamily = FamilyOf<prometheus::Gauge>;
using HistogramFamily = FamilyOf<prometheus::Histogram>;

using Collector = std::function<std::vector<prometheus::MetricFamily>()>;

class Registry;

// Unregisters its collector when destroyed (waiting for a scrape in progress).
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(Registry* registry, int64_t id) : registry_(registry), id_(id) {}
  CollectorHandle(CollectorHandle&& other) noexcept
      : registry_(std::exchange(other.registry_, nullptr)), id_(other.id_) {}
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  CollectorHandle(const CollectorHandle&) = delete;
  CollectorHandle& operator=(const CollectorHandle&) = delete;
  ~CollectorHandle() { Reset(); }

  void Reset();

 private:
  Registry* registry_ = nullptr;
  int64_t id_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The process's registry (never destroyed).
  static Registry& Default();

  // Registering a name again with the same type returns the same family.
  CounterFamily Counter(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names);
  GaugeFamily Gauge(const std::string& name, const std::string& help,
                    std::vector<std::string> label_names);
  HistogramFamily Histogram(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names,
                            std::vector<double> buckets = LatencyBuckets());

  // `collect` runs on every scrape; its families are added to the registry's.
  [[nodiscard]] CollectorHandle AddCollector(Collector collect);

  // Every family (registered and collected; families with one name merged), sorted by name.
  std::vector<prometheus::MetricFamily> Collect() const;

  // Collect() in the Prometheus text exposition format (version 0.0.4).
  std::string Serialize() const;

 private:
  friend class CollectorHandle;
  void RemoveCollector(int64_t id);

  const std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mu_;  // guards collectors_, next_id_; held while collecting
  std::map<int64_t, Collector> collectors_;
  int64_t next_id_ = 1;
};

// Builders for collectors' families.
prometheus::MetricFamily CounterSnapshot(std::string name, std::string help);
prometheus::MetricFamily GaugeSnapshot(std::string name, std::string help);
// Appends one sample with these labels ({name, value} pairs) to a counter or gauge family.
void AddSample(prometheus::MetricFamily& family,
               std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
               double value);

}  // namespace onsync::metrics

#endif  // ONSYNC_COMMON_METRICS_H_
