// A bounded map whose entries expire: the engine's cache of resolved references (match value ->
// record id) and of apps' field metadata (list value ids).
//
// Entries live `ttl` after they were put (a Put of an existing key renews it). When the map is
// full the oldest entry goes first (insertion order), so memory stays bounded however many
// distinct keys callers bring. A ttl <= 0 or max_entries of 0 turns the cache off: Get always
// misses and Put stores nothing.
//
// Thread safety: thread-safe. Values are copied out, so V should be cheap to copy (an integer, a
// shared_ptr to immutable data). The clock must outlive the cache.
#ifndef ONSYNC_SERVER_ENGINE_TTL_CACHE_H_
#define ONSYNC_SERVER_ENGINE_TTL_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/time/time.h"
#include "clients/http/scheduler.h"

namespace onsync::engine {

struct CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  size_t size = 0;
};

template <typename V>
class TtlCache {
 public:
  TtlCache(const clients::Clock& clock, absl::Duration ttl, size_t max_entries)
      : clock_(clock), ttl_(ttl), max_entries_(ttl > absl::ZeroDuration() ? max_entries : 0) {}

  TtlCache(const TtlCache&) = delete;
  TtlCache& operator=(const TtlCache&) = delete;

  std::optional<V> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.expires <= clock_.Now()) {
      order_.erase(it->second.position);
      entries_.erase(it);
      it = entries_.end();
    }
    if (it == entries_.end()) {
      ++misses_;
      return std::nullopt;
    }
    ++hits_;
    return it->second.value;
  }

  void Put(const std::string& key, V value) {
    if (max_entries_ == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      order_.erase(it->second.position);
      entries_.erase(it);
    }
    while (entries_.size() >= max_entries_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(key);
    entries_.emplace(key, Entry{std::move(value), clock_.Now() + ttl_, std::prev(order_.end())});
  }

  void Erase(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      order_.erase(it->second.position);
      entries_.erase(it);
    }
  }

  CacheStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {hits_, misses_, entries_.size()};
  }

 private:
  struct Entry {
    V value;
    absl::Time expires;
    std::list<std::string>::iterator position;
  };

  const clients::Clock& clock_;
  const absl::Duration ttl_;
  const size_t max_entries_;
  // std::mutex (not absl::Mutex): visible to ThreadSanitizer with Debian's Abseil.
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mu_
  std::list<std::string> order_;                    // guarded by mu_; oldest first
  int64_t hits_ = 0;                                // guarded by mu_
  int64_t misses_ = 0;                              // guarded by mu_
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_TTL_CACHE_H_
