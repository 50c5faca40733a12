// Integration tests of CurlTransport (and RetryingTransport on top of it) against a real
// onsync::http::Server on 127.0.0.1. No other host is ever contacted.
#include "clients/http/curl_transport.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/retry_policy.h"
#include "clients/http/retrying_transport.h"
#include "clients/http/scheduler.h"
#include "common/http_server.h"
#include "common/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients {
namespace {

using ::testing::Contains;
using ::testing::Each;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;

// Upper bound for "soon"; never a timing assertion on its own.
constexpr absl::Duration kPatience = absl::Seconds(10);

// Synchronisation in this file uses std:: primitives, not absl::Mutex/Notification: Debian's
// Abseil is not built with ThreadSanitizer annotations, so TSan would not see absl's.

// A one-shot event (Event's role).
class Event {
 public:
  void Notify() {
    // Notified under the lock: a waiter that wakes may destroy the event right after.
    std::lock_guard lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  bool WaitForNotificationWithTimeout(absl::Duration patience) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(patience), [this] { return notified_; });
  }
  bool HasBeenNotified() {
    std::lock_guard lock(mu_);
    return notified_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

// What a callback saw.
struct Outcome {
  absl::StatusOr<HttpResponse> result = absl::UnknownError("no callback yet");
  std::thread::id thread;
  bool ran_inline = false;
};

// Collects one callback's outcome; waits for it.
class Waiter {
 public:
  // `in_send` is true while the sending thread (the caller of Callback) is inside Send; the
  // callback ran inline if it ran on that thread meanwhile.
  HttpCallback Callback(const std::atomic<bool>* in_send = nullptr) {
    return
        [this, in_send, sender = std::this_thread::get_id()](absl::StatusOr<HttpResponse> result) {
          // Notified under the lock: the waiter may destroy this Waiter as soon as it wakes.
          std::lock_guard lock(mu_);
          ++calls_;
          outcome_.result = std::move(result);
          outcome_.thread = std::this_thread::get_id();
          outcome_.ran_inline =
              in_send != nullptr && in_send->load() && std::this_thread::get_id() == sender;
          cv_.notify_all();
        };
  }

  Outcome Wait(absl::Duration patience = kPatience) {
    std::unique_lock lock(mu_);
    const bool done =
        cv_.wait_for(lock, absl::ToChronoNanoseconds(patience), [this] { return calls_ > 0; });
    EXPECT_TRUE(done) << "callback never ran";
    return outcome_;
  }

  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;    // guarded by mu_
  Outcome outcome_;  // guarded by mu_
};

// A fake upstream with a few behaviours, selected by path.
class FakeUpstream {
 public:
  FakeUpstream() {
    http::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.threads = 2;
    options.max_body_bytes = 1 << 20;
    absl::StatusOr<std::unique_ptr<http::Server>> server =
        http::Server::Start(options, [this](http::Request request, http::Respond respond) {
          Handle(std::move(request), std::move(respond));
        });
    EXPECT_TRUE(server.ok()) << server.status();
    if (server.ok()) server_ = *std::move(server);
  }

  ~FakeUpstream() { Stop(); }

  void Stop() {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    std::lock_guard lock(mu_);
    held_.clear();
  }

  std::string Url(std::string_view path_and_query) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), ToAbsl(path_and_query));
  }
  int port() const { return server_->port(); }

  int requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<http::Request> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  int held() {
    std::lock_guard lock(mu_);
    return static_cast<int>(held_.size());
  }
  bool AwaitHeld(int count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(kPatience),
                        [&] { return static_cast<int>(held_.size()) >= count; });
  }

 private:
  void Handle(http::Request request, http::Respond respond) {
    http::Response response;
    response.content_type = "text/plain";
    {
      std::lock_guard lock(mu_);
      ++requests_;
      if (seen_.size() < 100) seen_.push_back(request);
      if (request.path == "/hold") {
        held_.push_back(std::move(respond));
        cv_.notify_all();
        return;
      }
      if (request.path == "/flaky") {
        if (++flaky_calls_ <= 2) {
          response.status = 503;
          response.body = "<html><body>busy</body></html>";
          std::move(respond)(std::move(response));
          return;
        }
      }
      if (request.path == "/limited") {
        if (++limited_calls_ == 1) {
          response.status = 429;
          response.headers = {{"Retry-After", "1"}};
          std::move(respond)(std::move(response));
          return;
        }
      }
    }
    if (request.path == "/echo") {
      response.status = 200;
      response.headers = {{"X-Reply", "Yes"}, {"X-Multi", "one"}, {"X-Multi", "two"}};
      const std::optional<std::string_view> test_header = request.Header("x-test");
      const std::optional<std::string_view> content_type = request.Header("content-type");
      response.body = absl::StrCat(
          request.method, "|", request.body, "|", ToAbsl(test_header.value_or("-")), "|",
          ToAbsl(content_type.value_or("-")), "|", ToAbsl(request.Header("expect").value_or("-")));
    } else if (request.path == "/port") {
      response.body = request.remote_address;
    } else if (request.path == "/redirect") {
      response.status = 302;
      response.headers = {{"Location", Url("/echo")}};
    } else if (request.path == "/big") {
      response.body = std::string(4096, 'b');
    } else if (request.path == "/status") {
      response.status = std::stoi(request.query);
    } else {
      response.body = "ok";
    }
    std::move(respond)(std::move(response));
  }

  std::unique_ptr<http::Server> server_;
  std::mutex mu_;  // guards the members below
  std::condition_variable cv_;
  int requests_ = 0;
  int flaky_calls_ = 0;
  int limited_calls_ = 0;
  std::vector<http::Request> seen_;
  std::vector<http::Respond> held_;
};

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { transport_ = MakeTransport({}); }

  void TearDown() override {
    if (transport_ != nullptr) transport_->Shutdown();
    upstream_.Stop();
  }

  static std::unique_ptr<CurlTransport> MakeTransport(CurlTransportOptions options) {
    absl::StatusOr<std::unique_ptr<CurlTransport>> transport =
        CurlTransport::Create(std::move(options));
    EXPECT_TRUE(transport.ok()) << transport.status();
    return transport.ok() ? *std::move(transport) : nullptr;
  }

  HttpRequest Request(std::string method, std::string_view path) {
    HttpRequest request;
    request.method = std::move(method);
    request.url = upstream_.Url(path);
    request.deadline = absl::Now() + kPatience;
    return request;
  }

  Outcome SendAndWait(HttpTransport& transport, HttpRequest request) {
    Waiter waiter;
    std::atomic<bool> in_send{true};
    transport.Send(std::move(request), waiter.Callback(&in_send));
    in_send = false;
    Outcome outcome = waiter.Wait();
    EXPECT_FALSE(outcome.ran_inline);
    return outcome;
  }

  Outcome SendAndWait(HttpRequest request) { return SendAndWait(*transport_, std::move(request)); }

  FakeUpstream upstream_;
  std::unique_ptr<CurlTransport> transport_;
};

TEST_F(CurlTransportTest, MethodsHeadersAndBodies) {
  for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest request = Request(method, "/echo");
    request.headers = {{"X-Test", "value-" + method}};
    if (method != "GET" && method != "DELETE") {
      request.body = R"({"method":")" + method + R"("})";
      request.headers.push_back({"Content-Type", "application/json"});
    }
    const Outcome outcome = SendAndWait(request);
    ASSERT_TRUE(outcome.result.ok()) << method << ": " << outcome.result.status();
    const HttpResponse& response = *outcome.result;
    EXPECT_EQ(response.status, 200);
    const std::string expected_body =
        method == "GET" || method == "DELETE"
            ? absl::StrCat(method, "||value-", method, "|-|-")
            : absl::StrCat(method, "|", request.body, "|value-", method, "|application/json|-");
    EXPECT_EQ(response.body, expected_body);
    // Names lower-cased, in order; lookups case-insensitive.
    EXPECT_THAT(response.headers, Contains(Pair("x-reply", "Yes")));
    EXPECT_EQ(response.Header("X-REPLY"), "Yes");
    EXPECT_EQ(response.Header("x-multi"), "one");
    EXPECT_EQ(response.Header("absent"), std::nullopt);
  }
}

TEST_F(CurlTransportTest, BodyIsSentWithExactlyTheCallersHeaders) {
  HttpRequest request = Request("POST", "/echo");
  request.body = std::string(4000, 'x');  // big enough for libcurl's Expect: 100-continue
  const Outcome outcome = SendAndWait(request);
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  // No default form content type, no Expect header.
  EXPECT_EQ(outcome.result->body, absl::StrCat("POST|", request.body, "|-|-|-"));
  const std::vector<http::Request> seen = upstream_.seen();
  ASSERT_THAT(seen, SizeIs(1));
  EXPECT_EQ(seen[0].Header("user-agent"), "onsync/0.1");
  EXPECT_EQ(seen[0].Header("cookie"), std::nullopt);
}

TEST_F(CurlTransportTest, EmptyHeaderValueIsSent) {
  HttpRequest request = Request("GET", "/echo");
  request.headers = {{"X-Test", ""}};
  const Outcome outcome = SendAndWait(request);
  ASSERT_TRUE(outcome.result.ok());
  EXPECT_EQ(outcome.result->body, "GET|||-|-");
}

TEST_F(CurlTransportTest, ConnectionsAreReused) {
  std::vector<std::string> remotes;
  for (int i = 0; i < 5; ++i) {
    const Outcome outcome = SendAndWait(Request("GET", "/port"));
    ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
    remotes.push_back(outcome.result->body);
  }
  EXPECT_THAT(remotes, Each(Eq(remotes[0])));
}

TEST_F(CurlTransportTest, ThousandConcurrentRequestsAllCompleteOnce) {
  constexpr int kRequests = 1000;
  std::vector<std::atomic<int>> calls(kRequests);
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  Event all_done;
  std::atomic<bool> in_send{false};
  std::atomic<int> inline_calls{0};
  const std::thread::id test_thread = std::this_thread::get_id();
  for (int i = 0; i < kRequests; ++i) {
    HttpRequest request = Request("POST", "/echo");
    request.body = absl::StrCat(i);
    in_send = true;
    transport_->Send(std::move(request), [&, i](absl::StatusOr<HttpResponse> result) {
      if (in_send.load() && std::this_thread::get_id() == test_thread) ++inline_calls;
      calls[i].fetch_add(1);
      if (result.ok() && result->status == 200 &&
          result->body == absl::StrCat("POST|", i, "|-|-|-")) {
        ok.fetch_add(1);
      }
      if (done.fetch_add(1) + 1 == kRequests) all_done.Notify();
    });
    in_send = false;
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(ok.load(), kRequests);
  EXPECT_EQ(inline_calls.load(), 0);
  for (int i = 0; i < kRequests; ++i) EXPECT_EQ(calls[i].load(), 1) << i;
  EXPECT_EQ(transport_->in_flight(), 0u);
}

TEST_F(CurlTransportTest, DeadlineExceededPromptlyAgainstASlowUpstream) {
  HttpRequest request = Request("GET", "/hold");
  request.deadline = absl::Now() + absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  const Outcome outcome = SendAndWait(request);
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kDeadlineExceeded)
      << outcome.result.status();
  EXPECT_FALSE(IsMarkedNotSent(outcome.result.status()));  // it was sent
  EXPECT_GE(elapsed, absl::Milliseconds(250));
  EXPECT_LT(elapsed, absl::Seconds(3));
}

TEST_F(CurlTransportTest, PassedDeadlineFailsWithoutSending) {
  HttpRequest request = Request("GET", "/echo");
  request.deadline = absl::Now() - absl::Seconds(1);
  const Outcome outcome = SendAndWait(request);
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(IsMarkedNotSent(outcome.result.status()));
  EXPECT_EQ(upstream_.requests(), 0);
}

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailableAndCertainlyNotSent) {
  FakeUpstream gone;
  const int port = gone.port();
  gone.Stop();
  HttpRequest request;
  request.method = "POST";
  request.url = absl::StrCat("http://svc:hunter2@127.0.0.1:", port, "/x?token=abcdef&page=1");
  request.body = "{}";
  request.deadline = absl::Now() + kPatience;
  const Outcome outcome = SendAndWait(request);
  const absl::Status& status = outcome.result.status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_TRUE(IsMarkedNotSent(status));
  EXPECT_TRUE(IsRetryable(outcome.result, /*idempotent=*/false));
  // The message names the request but never its credentials.
  EXPECT_THAT(status.message(), HasSubstr("POST http://[REDACTED]@127.0.0.1:"));
  EXPECT_THAT(status.message(), HasSubstr("token=[REDACTED]&page=1"));
  EXPECT_THAT(status.message(), Not(HasSubstr("hunter2")));
  EXPECT_THAT(status.message(), Not(HasSubstr("abcdef")));
}

TEST_F(CurlTransportTest, RedirectsAreNotFollowed) {
  const Outcome outcome = SendAndWait(Request("GET", "/redirect"));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(outcome.result->status, 302);
  EXPECT_EQ(outcome.result->Header("location"), upstream_.Url("/echo"));
  EXPECT_EQ(upstream_.requests(), 1);
}

TEST_F(CurlTransportTest, ErrorStatusesAreResponses) {
  for (const int status : {400, 404, 500, 503}) {
    const Outcome outcome = SendAndWait(Request("GET", absl::StrCat("/status?", status)));
    ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
    EXPECT_EQ(outcome.result->status, status);
  }
}

TEST_F(CurlTransportTest, ResponseBodyLimit) {
  CurlTransportOptions options;
  options.max_response_bytes = 1024;
  std::unique_ptr<CurlTransport> small = MakeTransport(options);
  const Outcome outcome = SendAndWait(*small, Request("GET", "/big"));
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kResourceExhausted)
      << outcome.result.status();
  EXPECT_THAT(outcome.result.status().message(), HasSubstr("1024 bytes"));
  // Within the limit: fine.
  const Outcome fine = SendAndWait(*small, Request("GET", "/echo"));
  EXPECT_TRUE(fine.result.ok()) << fine.result.status();
}

TEST_F(CurlTransportTest, InvalidRequests) {
  HttpRequest bad_url = Request("GET", "/");
  bad_url.url = "http://[::1";
  EXPECT_EQ(SendAndWait(bad_url).result.status().code(), absl::StatusCode::kInvalidArgument);

  HttpRequest bad_scheme = Request("GET", "/");
  bad_scheme.url = "file:///etc/passwd";
  EXPECT_EQ(SendAndWait(bad_scheme).result.status().code(), absl::StatusCode::kInvalidArgument);

  HttpRequest injected = Request("GET", "/echo");
  injected.headers = {{"X-Test", "a\r\nX-Evil: 1"}};
  EXPECT_EQ(SendAndWait(injected).result.status().code(), absl::StatusCode::kInvalidArgument);

  HttpRequest bad_name = Request("GET", "/echo");
  bad_name.headers = {{"X Test", "a"}};
  EXPECT_EQ(SendAndWait(bad_name).result.status().code(), absl::StatusCode::kInvalidArgument);

  HttpRequest bad_method = Request("GE T", "/echo");
  EXPECT_EQ(SendAndWait(bad_method).result.status().code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(upstream_.requests(), 0);
}

TEST_F(CurlTransportTest, CreateRejectsBadOptions) {
  CurlTransportOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(CurlTransport::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.max_connections_per_host = 0;
  EXPECT_EQ(CurlTransport::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = {};
  options.connect_timeout = absl::ZeroDuration();
  EXPECT_EQ(CurlTransport::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CurlTransportTest, CallbacksRunOnTheLoopThreadNeverInline) {
  const Outcome first = SendAndWait(Request("GET", "/echo"));
  const Outcome second = SendAndWait(Request("GET", "/echo"));
  EXPECT_NE(first.thread, std::this_thread::get_id());
  EXPECT_EQ(first.thread, second.thread);  // one loop thread

  // RunAfter runs on the same thread, never inline, in due order.
  std::mutex mu;
  std::vector<int> order;
  std::thread::id task_thread;
  Event done;
  std::atomic<bool> in_run_after{true};
  std::atomic<bool> ran_inline{false};
  const std::thread::id test_thread = std::this_thread::get_id();
  transport_->RunAfter(absl::Milliseconds(50), [&] {
    std::lock_guard lock(mu);
    order.push_back(2);
    task_thread = std::this_thread::get_id();
    done.Notify();
  });
  transport_->RunAfter(absl::ZeroDuration(), [&] {
    if (in_run_after.load() && std::this_thread::get_id() == test_thread) ran_inline = true;
    std::lock_guard lock(mu);
    order.push_back(1);
  });
  in_run_after = false;
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(task_thread, first.thread);
  EXPECT_FALSE(ran_inline.load());
}

TEST_F(CurlTransportTest, RunAfterWaitsAtLeastTheDelay) {
  Event done;
  absl::Time ran_at;
  const absl::Time start = absl::Now();
  transport_->RunAfter(absl::Milliseconds(200), [&] {
    ran_at = absl::Now();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  EXPECT_GE(ran_at - start, absl::Milliseconds(200));
}

TEST_F(CurlTransportTest, ShutdownCancelsInFlightAndLaterRequests) {
  constexpr int kHeld = 5;
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < kHeld; ++i) {
    waiters.push_back(std::make_unique<Waiter>());
    transport_->Send(Request("GET", "/hold"), waiters.back()->Callback());
  }
  ASSERT_TRUE(upstream_.AwaitHeld(kHeld));
  // A task far in the future still runs at shutdown.
  Event task_ran;
  transport_->RunAfter(absl::Hours(1), [&] { task_ran.Notify(); });

  const absl::Time start = absl::Now();
  transport_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(task_ran.HasBeenNotified());
  for (auto& waiter : waiters) {
    EXPECT_EQ(waiter->calls(), 1);  // Shutdown returned after the callbacks ran
    EXPECT_EQ(waiter->Wait().result.status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(transport_->in_flight(), 0u);

  // After shutdown: CANCELLED, asynchronously, on another thread.
  const Outcome late = SendAndWait(Request("GET", "/echo"));
  EXPECT_EQ(late.result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_NE(late.thread, std::this_thread::get_id());
  Event late_task;
  transport_->RunAfter(absl::Hours(1), [&] { late_task.Notify(); });
  EXPECT_TRUE(late_task.WaitForNotificationWithTimeout(kPatience));
  transport_->Shutdown();  // idempotent
}

TEST_F(CurlTransportTest, RequestsSentFromCallbacksDuringShutdownAreCancelled) {
  // A callback chain that keeps sending must still end at shutdown.
  std::atomic<int> cancelled{0};
  Event chain_ended;
  std::function<void(absl::StatusOr<HttpResponse>)> on_done;
  on_done = [&](absl::StatusOr<HttpResponse> result) {
    if (!result.ok() && result.status().code() == absl::StatusCode::kCancelled) {
      if (cancelled.fetch_add(1) + 1 == 3) {
        chain_ended.Notify();
        return;
      }
    }
    transport_->Send(Request("GET", "/hold"), on_done);
  };
  transport_->Send(Request("GET", "/hold"), on_done);
  ASSERT_TRUE(upstream_.AwaitHeld(1));
  transport_->Shutdown();
  EXPECT_TRUE(chain_ended.WaitForNotificationWithTimeout(kPatience));
}

TEST_F(CurlTransportTest, DestructorShutsDown) {
  std::unique_ptr<CurlTransport> transport = MakeTransport({});
  Waiter waiter;
  HttpRequest request = Request("GET", "/hold");
  transport->Send(std::move(request), waiter.Callback());
  ASSERT_TRUE(upstream_.AwaitHeld(1));
  transport.reset();
  EXPECT_EQ(waiter.calls(), 1);
  EXPECT_EQ(waiter.Wait().result.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(CurlTransportTest, RequestsBeyondTheHostLimitQueueInOrder) {
  CurlTransportOptions options;
  options.max_connections_per_host = 1;
  std::unique_ptr<CurlTransport> narrow = MakeTransport(options);
  std::mutex mu;
  std::vector<int> order;
  Event done;
  for (int i = 0; i < 20; ++i) {
    HttpRequest request = Request("POST", "/echo");
    request.body = absl::StrCat(i);
    narrow->Send(std::move(request), [&, i](absl::StatusOr<HttpResponse> result) {
      EXPECT_TRUE(result.ok()) << result.status();
      std::lock_guard lock(mu);
      order.push_back(i);
      if (order.size() == 20) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  std::lock_guard lock(mu);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[i], i);
}

TEST_F(CurlTransportTest, QueuedRequestsKeepTheirDeadlineAndAreCancelledAtShutdown) {
  CurlTransportOptions options;
  options.max_connections_per_host = 1;
  std::unique_ptr<CurlTransport> narrow = MakeTransport(options);
  Waiter holder;
  narrow->Send(Request("GET", "/hold"), holder.Callback());
  ASSERT_TRUE(upstream_.AwaitHeld(1));

  // Waits behind the held request; its deadline passes while it is queued.
  HttpRequest queued = Request("POST", "/echo");
  queued.deadline = absl::Now() + absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  const Outcome expired = SendAndWait(*narrow, queued);
  EXPECT_EQ(expired.result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(IsMarkedNotSent(expired.result.status()));
  EXPECT_THAT(expired.result.status().message(), HasSubstr("waited for a connection"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));

  Waiter waiting;
  narrow->Send(Request("GET", "/echo"), waiting.Callback());
  narrow->Shutdown();
  EXPECT_EQ(holder.Wait().result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(waiting.Wait().result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(upstream_.requests(), 1);  // only the held one reached the server
}

// --- RetryingTransport over CurlTransport, end to end ---

TEST_F(CurlTransportTest, RetryingTransportRetries503ThenSucceeds) {
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(20);
  RetryingTransport retrying(*transport_, *transport_, RealClock(), options);
  const Outcome outcome = SendAndWait(retrying, Request("GET", "/flaky"));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(outcome.result->status, 200);
  EXPECT_EQ(upstream_.requests(), 3);
  EXPECT_EQ(retrying.stats().retries, 2);
}

TEST_F(CurlTransportTest, RetryingTransportHonoursRetryAfter) {
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(20);
  RetryingTransport retrying(*transport_, *transport_, RealClock(), options);
  const absl::Time start = absl::Now();
  const Outcome outcome = SendAndWait(retrying, Request("GET", "/limited"));
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(outcome.result->status, 200);
  EXPECT_EQ(upstream_.requests(), 2);
  EXPECT_GE(elapsed, absl::Seconds(1));  // the floor
  EXPECT_LT(elapsed, absl::Seconds(5));  // generous
}

TEST_F(CurlTransportTest, RetryingTransportRetriesRefusedPost) {
  // A non-idempotent request to a port where nothing listens: retried (never sent), then the
  // attempt cap ends the call with the connection error.
  FakeUpstream gone;
  const int port = gone.port();
  gone.Stop();
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(5);
  options.max_attempts = 3;
  RetryingTransport retrying(*transport_, *transport_, RealClock(), options);
  HttpRequest request;
  request.method = "POST";
  request.url = absl::StrCat("http://127.0.0.1:", port, "/create");
  request.idempotent = false;
  request.deadline = absl::Now() + kPatience;
  const Outcome outcome = SendAndWait(retrying, request);
  EXPECT_EQ(outcome.result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(retrying.stats().attempts, 3);
}

}  // namespace
}  // namespace onsync::clients
