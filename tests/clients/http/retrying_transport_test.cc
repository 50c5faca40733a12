#include "clients/http/retrying_transport.h"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "clients/http/retry_policy.h"
#include "clients/http/scheduler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// Fake time: a clock and a scheduler that runs its tasks in due order, moving the clock forward.
// Single-threaded: the test drives it with RunUntilIdle.
class FakeTime final : public Clock, public Scheduler {
 public:
  absl::Time Now() const override { return now_; }

  void RunAfter(absl::Duration delay, absl::AnyInvocable<void() &&> task) override {
    tasks_.emplace(std::make_pair(now_ + delay, sequence_++), std::move(task));
  }

  // Runs tasks (and the tasks they schedule) in due order until none are left.
  void RunUntilIdle() {
    while (!tasks_.empty()) {
      auto first = tasks_.begin();
      now_ = std::max(now_, first->first.first);
      absl::AnyInvocable<void()&&> task = std::move(first->second);
      tasks_.erase(first);
      std::move(task)();
    }
  }

  void Advance(absl::Duration by) { now_ += by; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
  uint64_t sequence_ = 0;
  std::map<std::pair<absl::Time, uint64_t>, absl::AnyInvocable<void() &&>> tasks_;
};

// One scripted outcome of an attempt: the result, and how long the "upstream" takes.
struct Outcome {
  absl::StatusOr<HttpResponse> result;
  absl::Duration latency = absl::Milliseconds(10);
};

Outcome Http(int status, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse response;
  response.status = status;
  response.headers = std::move(headers);
  response.body = "status " + std::to_string(status);
  return Outcome{response};
}

Outcome Error(absl::Status status, absl::Duration latency = absl::Milliseconds(10)) {
  return Outcome{std::move(status), latency};
}

// An inner transport that answers from a script, through the fake scheduler (never inline).
class ScriptedTransport final : public HttpTransport {
 public:
  explicit ScriptedTransport(FakeTime& time) : time_(time) {}

  void Script(std::vector<Outcome> outcomes) {
    for (Outcome& outcome : outcomes) script_.push_back(std::move(outcome));
  }

  void Send(HttpRequest request, HttpCallback done) override {
    sent_at_.push_back(time_.Now());
    requests_.push_back(request);
    Outcome outcome = script_.empty() ? Http(200) : std::move(script_.front());
    if (!script_.empty()) script_.pop_front();
    // Like a real transport: a result never arrives after the attempt's deadline.
    absl::Duration latency = outcome.latency;
    if (time_.Now() + latency > request.deadline) {
      latency = std::max(request.deadline - time_.Now(), absl::ZeroDuration());
      outcome.result = absl::DeadlineExceededError("attempt deadline");
    }
    time_.RunAfter(latency, [done = std::move(done), result = std::move(outcome.result)]() mutable {
      std::move(done)(std::move(result));
    });
  }

  const std::vector<absl::Time>& sent_at() const { return sent_at_; }
  const std::vector<HttpRequest>& requests() const { return requests_; }

 private:
  FakeTime& time_;
  std::deque<Outcome> script_;
  std::vector<absl::Time> sent_at_;
  std::vector<HttpRequest> requests_;
};

class RetryingTransportTest : public ::testing::Test {
 protected:
  RetryingTransportTest() {
    options_.max_attempts = 4;
    options_.initial_backoff = absl::Milliseconds(100);
    options_.max_backoff = absl::Seconds(5);
  }

  RetryingTransport& Transport() {
    if (retrying_ == nullptr) {
      retrying_ = std::make_unique<RetryingTransport>(inner_, time_, time_, options_, budget_,
                                                      /*rng_seed=*/1234);
    }
    return *retrying_;
  }

  // Sends and runs fake time until the call completes; returns its result.
  absl::StatusOr<HttpResponse> Call(HttpRequest request) {
    std::optional<absl::StatusOr<HttpResponse>> result;
    int callbacks = 0;
    Transport().Send(std::move(request), [&](absl::StatusOr<HttpResponse> r) {
      ++callbacks;
      result = std::move(r);
    });
    EXPECT_EQ(callbacks, 0) << "callback ran inline from Send";
    time_.RunUntilIdle();
    EXPECT_EQ(callbacks, 1);
    return result.has_value() ? *std::move(result) : absl::InternalError("no callback");
  }

  HttpRequest Get() {
    HttpRequest request;
    request.method = "GET";
    request.url = "https://acme.example/api/now/table/x";
    request.deadline = time_.Now() + absl::Seconds(30);
    return request;
  }

  HttpRequest Post() {
    HttpRequest request = Get();
    request.method = "POST";
    request.body = R"({"name":"x"})";
    request.idempotent = false;
    return request;
  }

  FakeTime time_;
  ScriptedTransport inner_{time_};
  RetryOptions options_;
  std::shared_ptr<RetryBudget> budget_ = std::make_shared<RetryBudget>();
  std::unique_ptr<RetryingTransport> retrying_;
};

TEST_F(RetryingTransportTest, SuccessNeedsOneAttempt) {
  inner_.Script({Http(200)});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  EXPECT_THAT(inner_.requests(), SizeIs(1));
  EXPECT_EQ(Transport().stats().retries, 0);
}

TEST_F(RetryingTransportTest, RetriesA503ThenSucceeds) {
  inner_.Script({Http(503), Http(200)});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  ASSERT_THAT(inner_.requests(), SizeIs(2));
  // The retry repeats the request exactly.
  EXPECT_EQ(inner_.requests()[1].url, inner_.requests()[0].url);
  EXPECT_EQ(inner_.requests()[1].method, "GET");
  // Full jitter: the wait is within [0, initial_backoff].
  const absl::Duration wait =
      inner_.sent_at()[1] - inner_.sent_at()[0] - absl::Milliseconds(10);  // minus latency
  EXPECT_GE(wait, absl::ZeroDuration());
  EXPECT_LE(wait, absl::Milliseconds(100));
  const RetryStats stats = Transport().stats();
  EXPECT_EQ(stats.calls, 1);
  EXPECT_EQ(stats.attempts, 2);
  EXPECT_EQ(stats.retries, 1);
}

TEST_F(RetryingTransportTest, RetriesEachRetryableStatusAndTransportError) {
  for (const int status : {429, 499, 502, 503, 504}) {
    inner_.Script({Http(status), Http(200)});
  }
  inner_.Script({Error(absl::UnavailableError("reset")), Http(200)});
  inner_.Script({Error(absl::DeadlineExceededError("attempt timed out")), Http(200)});
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<HttpResponse> result = Call(Get());
    ASSERT_TRUE(result.ok()) << i << ": " << result.status();
    EXPECT_EQ(result->status, 200) << i;
  }
  EXPECT_EQ(Transport().stats().retries, 7);
}

TEST_F(RetryingTransportTest, RetryAfterIsHonouredAsAFloor) {
  inner_.Script({Http(429, {{"retry-after", "3"}}), Http(200)});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 200);
  ASSERT_THAT(inner_.sent_at(), SizeIs(2));
  const absl::Duration wait = inner_.sent_at()[1] - inner_.sent_at()[0] - absl::Milliseconds(10);
  EXPECT_GE(wait, absl::Seconds(3));
  // Backoff on top of the floor is max(), not a sum: at most the floor here (jitter <= 100 ms).
  EXPECT_LE(wait, absl::Seconds(3));
}

TEST_F(RetryingTransportTest, RetryAfterAsHttpDateIsHonoured) {
  const std::string in_five_seconds = absl::FormatTime(
      "%a, %d %b %Y %H:%M:%S GMT", time_.Now() + absl::Seconds(5), absl::UTCTimeZone());
  inner_.Script({Http(503, {{"retry-after", in_five_seconds}}), Http(200)});
  ASSERT_TRUE(Call(Get()).ok());
  ASSERT_THAT(inner_.sent_at(), SizeIs(2));
  EXPECT_GE(inner_.sent_at()[1] - inner_.sent_at()[0], absl::Seconds(5));
}

TEST_F(RetryingTransportTest, LongRetryAfterEndsTheCallWithTheResponse) {
  options_.max_retry_after = absl::Seconds(30);
  inner_.Script({Http(429, {{"retry-after", "120"}})});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 429);
  EXPECT_EQ(result->Header("Retry-After"), "120");
  EXPECT_THAT(inner_.requests(), SizeIs(1));
}

TEST_F(RetryingTransportTest, AttemptCapReturnsTheLastResponse) {
  inner_.Script({Http(503), Http(502), Http(503), Http(504), Http(200)});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 504);
  EXPECT_EQ(result->body, "status 504");
  EXPECT_THAT(inner_.requests(), SizeIs(4));
  EXPECT_EQ(Transport().stats().retries, 3);
}

TEST_F(RetryingTransportTest, AttemptCapReturnsTheLastTransportError) {
  options_.max_attempts = 2;
  inner_.Script({Error(absl::UnavailableError("first")), Error(absl::UnavailableError("second"))});
  absl::StatusOr<HttpResponse> result = Call(Get());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(result.status().message(), "second");
}

TEST_F(RetryingTransportTest, BackoffGrowsExponentiallyWithinTheCeilings) {
  options_.max_attempts = 5;
  inner_.Script({Http(503), Http(503), Http(503), Http(503), Http(200)});
  ASSERT_TRUE(Call(Get()).ok());
  ASSERT_THAT(inner_.sent_at(), SizeIs(5));
  for (int retry = 0; retry < 4; ++retry) {
    const absl::Duration wait =
        inner_.sent_at()[retry + 1] - inner_.sent_at()[retry] - absl::Milliseconds(10);
    EXPECT_GE(wait, absl::ZeroDuration());
    EXPECT_LE(wait, absl::Milliseconds(100) * (1 << retry)) << "retry " << retry;
  }
}

TEST_F(RetryingTransportTest, NeverRetriesClientErrors) {
  for (const int status : {400, 401, 403, 404, 409, 422, 500, 501}) {
    inner_.Script({Http(status), Http(200)});
    absl::StatusOr<HttpResponse> result = Call(Get());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->status, status);
    (void)Call(Get());  // consume the scripted 200
  }
  EXPECT_EQ(Transport().stats().retries, 0);
}

TEST_F(RetryingTransportTest, NeverRetriesCancelledOrInvalid) {
  inner_.Script(
      {Error(absl::CancelledError("shutting down")), Error(absl::InvalidArgumentError("bad url"))});
  EXPECT_EQ(Call(Get()).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(Call(Get()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inner_.requests(), SizeIs(2));
}

TEST_F(RetryingTransportTest, NonIdempotentPostIsNotRetriedOn503) {
  inner_.Script({Http(503), Http(200)});
  absl::StatusOr<HttpResponse> result = Call(Post());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status, 503);
  EXPECT_THAT(inner_.requests(), SizeIs(1));
}

TEST_F(RetryingTransportTest, NonIdempotentPostIsNotRetriedOnTimeoutOrReset) {
  inner_.Script({Error(absl::DeadlineExceededError("timed out")),
                 Error(absl::UnavailableError("connection reset by peer"))});
  EXPECT_EQ(Call(Post()).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Call(Post()).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(inner_.requests(), SizeIs(2));
}

TEST_F(RetryingTransportTest, NonIdempotentPostIsRetriedWhenCertainlyNotSent) {
  inner_.Script({Error(MarkNotSent(absl::UnavailableError("connection refused"))), Http(201)});
  absl::StatusOr<HttpResponse> result = Call(Post());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 201);
  ASSERT_THAT(inner_.requests(), SizeIs(2));
  EXPECT_EQ(inner_.requests()[1].body, R"({"name":"x"})");
}

TEST_F(RetryingTransportTest, NonIdempotentPostIsRetriedOn429) {
  inner_.Script({Http(429, {{"retry-after", "1"}}), Http(201)});
  absl::StatusOr<HttpResponse> result = Call(Post());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status, 201);
}

TEST_F(RetryingTransportTest, DeadlineWinsOverRetryAfterWithTheLastResponse) {
  HttpRequest request = Get();
  request.deadline = time_.Now() + absl::Seconds(2);
  inner_.Script({Http(503, {{"retry-after", "5"}}), Http(200)});
  absl::StatusOr<HttpResponse> result = Call(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->status, 503);  // the upstream's own answer, not a made-up error
  EXPECT_THAT(inner_.requests(), SizeIs(1));
  EXPECT_LT(time_.Now(), request.deadline);
  EXPECT_EQ(Transport().stats().deadline_stops, 1);
}

TEST_F(RetryingTransportTest, DeadlineWinsAfterTransportErrorsWithDeadlineExceeded) {
  options_.initial_backoff = absl::Seconds(1);
  options_.max_backoff = absl::Seconds(1);
  HttpRequest request = Get();
  request.deadline = time_.Now() + absl::Milliseconds(1500);
  // Each attempt fails after 600 ms; retries wait up to 1 s; some retry would start at or after
  // the deadline and is never scheduled.
  for (int i = 0; i < 4; ++i) {
    inner_.Script({Error(absl::UnavailableError("connection reset"), absl::Milliseconds(600))});
  }
  absl::StatusOr<HttpResponse> result = Call(request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("gave up after"));
  EXPECT_THAT(result.status().message(), HasSubstr("GET https://acme.example/api/now/table/x"));
  EXPECT_LE(time_.Now(), request.deadline);
  for (const absl::Time sent : inner_.sent_at()) EXPECT_LT(sent, request.deadline);
}

TEST_F(RetryingTransportTest, AttemptTimeoutLeavesRoomForAnotherAttempt) {
  options_.attempt_timeout = absl::Seconds(1);
  HttpRequest request = Get();
  request.deadline = time_.Now() + absl::Seconds(10);
  inner_.Script({Outcome{Http(200).result, absl::Seconds(5)}, Http(200)});  // first one hangs
  absl::StatusOr<HttpResponse> result = Call(request);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_THAT(inner_.requests(), SizeIs(2));
  EXPECT_EQ(inner_.requests()[0].deadline, inner_.sent_at()[0] + absl::Seconds(1));
}

TEST_F(RetryingTransportTest, BudgetExhaustionStopsRetries) {
  budget_ = std::make_shared<RetryBudget>(/*max_tokens=*/4, /*token_ratio=*/0.1);
  options_.max_attempts = 10;
  // 4 tokens; retries allowed while tokens > 2: two failures bring it to 2.
  for (int i = 0; i < 2; ++i) inner_.Script({Http(503)});
  absl::StatusOr<HttpResponse> result = Call(Get());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status, 503);
  EXPECT_THAT(inner_.requests(), SizeIs(2));
  EXPECT_EQ(Transport().stats().budget_exhausted, 1);

  // While the budget is low, even the first retryable failure of a new call is not retried.
  inner_.Script({Http(503), Http(200)});
  EXPECT_EQ(Call(Get())->status, 503);
  EXPECT_EQ(Transport().stats().budget_exhausted, 2);
}

TEST_F(RetryingTransportTest, SuccessesRefillTheBudget) {
  budget_ = std::make_shared<RetryBudget>(/*max_tokens=*/4, /*token_ratio=*/0.5);
  budget_->RecordFailure();
  budget_->RecordFailure();  // 2 tokens left: retries stop (allowed only above 2)
  inner_.Script({Http(503)});
  EXPECT_EQ(Call(Get())->status, 503);  // costs one more: 1 token
  EXPECT_DOUBLE_EQ(budget_->tokens(), 1);
  for (int i = 0; i < 6; ++i) inner_.Script({Http(200)});
  for (int i = 0; i < 6; ++i) (void)Call(Get());  // +0.5 each, capped at 4
  EXPECT_DOUBLE_EQ(budget_->tokens(), 4);
  inner_.Script({Http(503), Http(200)});
  EXPECT_EQ(Call(Get())->status, 200);  // 3 tokens after the 503: retried
}

TEST_F(RetryingTransportTest, ConcurrentCallsAreIndependent) {
  inner_.Script({Http(503), Http(404), Http(200)});
  std::vector<absl::StatusOr<HttpResponse>> results;
  for (int i = 0; i < 2; ++i) {
    Transport().Send(
        Get(), [&results](absl::StatusOr<HttpResponse> r) { results.push_back(std::move(r)); });
  }
  time_.RunUntilIdle();
  ASSERT_THAT(results, SizeIs(2));
  // The 404 call completes first; the 503 call retries and gets the 200.
  EXPECT_EQ(results[0]->status, 404);
  EXPECT_EQ(results[1]->status, 200);
}

}  // namespace
}  // namespace onsync::clients
