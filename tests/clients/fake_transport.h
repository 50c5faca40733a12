// Test doubles for the upstream clients: a scripted HttpTransport (also a Scheduler), a settable
// Clock, and a helper that captures one asynchronous result.
//
// FakeTransport records every request and answers it from a FIFO queue of scripted responses or,
// when the queue is empty, from a handler function (no queue and no handler: UNAVAILABLE). Like the
// real transport it never calls back inline: answers and scheduled tasks run on one worker thread,
// in order. Hold() stops deliveries (requests are still recorded and answered later) so a test can
// issue concurrent calls and inspect what was sent before anything completes; Release() resumes.
// RunAfter ignores the delay (records it) and runs the task on the worker.
//
// Thread safety: every method is thread-safe. The handler runs on the calling thread of Send,
// outside the fake's lock. The destructor delivers everything pending, then joins the worker.
#ifndef ONSYNC_TESTS_CLIENTS_FAKE_TRANSPORT_H_
#define ONSYNC_TESTS_CLIENTS_FAKE_TRANSPORT_H_

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/scheduler.h"
#include "common/string_view.h"

namespace onsync::clients::testing {

inline HttpResponse MakeResponse(int status, std::string body,
                                 std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  // The real transport lower-cases header names.
  for (auto& [name, value] : headers) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    response.headers.emplace_back(std::move(lower), std::move(value));
  }
  return response;
}

// The value of header `name` (case-insensitive) in a request, if present.
inline std::optional<std::string> RequestHeader(const HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (absl::EqualsIgnoreCase(key, ToAbsl(name))) return value;
  }
  return std::nullopt;
}

// The raw (still percent-encoded) value of query parameter `name` of `url`, if present.
inline std::optional<std::string> QueryParam(std::string_view url, std::string_view name) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(url.substr(q + 1)), '&')) {
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == ToAbsl(name)) {
      return eq == absl::string_view::npos ? std::string() : std::string(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

inline int64_t IntQueryParam(std::string_view url, std::string_view name, int64_t fallback) {
  std::optional<std::string> value = QueryParam(url, name);
  int64_t n = fallback;
  if (value && absl::SimpleAtoi(*value, &n)) return n;
  return fallback;
}

class FakeTransport final : public HttpTransport, public Scheduler {
 public:
  using Handler = std::function<absl::StatusOr<HttpResponse>(const HttpRequest&)>;

  FakeTransport() : worker_([this] { Run(); }) {}

  ~FakeTransport() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      held_ = false;
    }
    worker_.join();
  }

  void Send(HttpRequest request, HttpCallback done) override {
    std::optional<absl::StatusOr<HttpResponse>> scripted;
    Handler handler;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
      if (!queue_.empty()) {
        scripted = std::move(queue_.front());
        queue_.pop_front();
      } else {
        handler = handler_;
      }
    }
    absl::StatusOr<HttpResponse> answer =
        scripted  ? *std::move(scripted)
        : handler ? handler(request)
                  : absl::StatusOr<HttpResponse>(
                        absl::UnavailableError("FakeTransport: no scripted response"));
    Post([done = std::move(done), answer = std::move(answer)]() mutable {
      std::move(done)(std::move(answer));
    });
  }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) override {
    {
      absl::MutexLock lock(&mu_);
      delays_.push_back(delay);
    }
    Post(std::move(task));
  }

  // Answers for the next requests, in order (they take precedence over the handler).
  void Enqueue(absl::StatusOr<HttpResponse> response) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(response));
  }
  void Enqueue(int status, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {}) {
    Enqueue(MakeResponse(status, std::move(body), std::move(headers)));
  }

  void SetHandler(Handler handler) {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }

  std::vector<HttpRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  size_t request_count() const {
    absl::MutexLock lock(&mu_);
    return requests_.size();
  }
  std::vector<absl::Duration> delays() const {
    absl::MutexLock lock(&mu_);
    return delays_;
  }

  // Waits until at least `n` requests were sent.
  bool WaitForRequests(size_t n, absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return requests_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  // The id of the worker thread that runs every callback.
  std::thread::id worker_id() const { return worker_.get_id(); }

 private:
  void Post(absl::AnyInvocable<void() &&> task) {
    absl::MutexLock lock(&mu_);
    tasks_.push_back(std::move(task));
  }

  void Run() {
    while (true) {
      absl::AnyInvocable<void() &&> task;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return (!held_ && !tasks_.empty()) || (stopping_ && tasks_.empty());
        };
        mu_.Await(absl::Condition(&ready));
        if (tasks_.empty()) return;  // stopping
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      std::move(task)();
    }
  }

  mutable absl::Mutex mu_;
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::StatusOr<HttpResponse>> queue_ ABSL_GUARDED_BY(mu_);
  Handler handler_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> delays_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;  // last: starts after the members above exist
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// Captures the one value a callback receives; Wait() blocks until it arrives (10 s at most).
template <typename T>
class Capture {
 public:
  absl::AnyInvocable<void(T) &&> Callback() {
    return [this](T value) {
      {
        absl::MutexLock lock(&mu_);
        value_.emplace(std::move(value));
        thread_ = std::this_thread::get_id();
      }
      done_.Notify();
    };
  }
  bool Done() const { return done_.HasBeenNotified(); }
  T& Wait() {
    if (!done_.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      // Fail loudly rather than dereference nothing.
      std::abort();
    }
    absl::MutexLock lock(&mu_);
    return *value_;
  }
  // The thread the callback ran on (valid after Wait).
  std::thread::id thread() const {
    absl::MutexLock lock(&mu_);
    return thread_;
  }

 private:
  mutable absl::Mutex mu_;
  std::optional<T> value_ ABSL_GUARDED_BY(mu_);
  std::thread::id thread_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

}  // namespace onsync::clients::testing

#endif  // ONSYNC_TESTS_CLIENTS_FAKE_TRANSPORT_H_
