// Single-flight: concurrent callers asking for the same key share one upstream call. The engine
// uses it so that N concurrent events needing the same missing record create it once, and so
// that a cold cache costs one metadata read however many events arrive together.
//
// Thread safety: thread-safe. `start` runs on the calling thread, outside the lock; callbacks
// run on the thread that calls `finish`, outside the lock, in the order the callers joined.
#ifndef ONSYNC_SERVER_ENGINE_SINGLE_FLIGHT_H_
#define ONSYNC_SERVER_ENGINE_SINGLE_FLIGHT_H_

#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace onsync::engine {

template <typename V>
class SingleFlight {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<V>) &&>;
  // Completes the flight: every joined caller receives (a copy of) the result.
  using Finish = absl::AnyInvocable<void(absl::StatusOr<V>) &&>;

  SingleFlight() = default;
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  // When no flight for `key` is in progress, starts one by calling `start(finish)`; otherwise
  // `done` joins the flight in progress and `start` is dropped. `finish` must be called exactly
  // once. The flight ends before the callbacks run, so a callback may start a new one.
  void Do(const std::string& key, Callback done, absl::AnyInvocable<void(Finish) &&> start) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto [it, inserted] = flights_.try_emplace(key);
      it->second.push_back(std::move(done));
      if (!inserted) return;
    }
    std::move(start)([this, key](absl::StatusOr<V> result) {
      std::vector<Callback> waiters;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = flights_.find(key);
        waiters = std::move(it->second);
        flights_.erase(it);
      }
      for (Callback& waiter : waiters) std::move(waiter)(result);
    });
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<Callback>> flights_;  // guarded by mu_
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_SINGLE_FLIGHT_H_
