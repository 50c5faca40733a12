#include "clients/http/retry_policy.h"

#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "clients/http/http_transport.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients {
namespace {

using ::testing::Optional;

absl::StatusOr<HttpResponse> Response(int status) {
  HttpResponse response;
  response.status = status;
  return response;
}

TEST(IsRetryableTest, RetryableHttpStatusesForIdempotentRequests) {
  for (const int status : {429, 499, 502, 503, 504}) {
    EXPECT_TRUE(IsRetryable(Response(status), /*idempotent=*/true)) << status;
  }
}

TEST(IsRetryableTest, NeverRetriesOtherHttpStatuses) {
  for (const int status : {200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 412, 413,
                           422, 500, 501, 505, 599}) {
    EXPECT_FALSE(IsRetryable(Response(status), /*idempotent=*/true)) << status;
    EXPECT_FALSE(IsRetryable(Response(status), /*idempotent=*/false)) << status;
  }
}

TEST(IsRetryableTest, NonIdempotentRetriesOnly429AmongHttpStatuses) {
  EXPECT_TRUE(IsRetryable(Response(429), /*idempotent=*/false));
  for (const int status : {499, 502, 503, 504}) {
    EXPECT_FALSE(IsRetryable(Response(status), /*idempotent=*/false)) << status;
  }
}

TEST(IsRetryableTest, TransportErrors) {
  const absl::Status unavailable = absl::UnavailableError("connection reset");
  const absl::Status timeout = absl::DeadlineExceededError("timed out");
  EXPECT_TRUE(IsRetryable(unavailable, /*idempotent=*/true));
  EXPECT_TRUE(IsRetryable(timeout, /*idempotent=*/true));
  EXPECT_FALSE(IsRetryable(unavailable, /*idempotent=*/false));
  EXPECT_FALSE(IsRetryable(timeout, /*idempotent=*/false));

  for (const absl::Status& status :
       {absl::CancelledError("shutting down"), absl::InvalidArgumentError("bad url"),
        absl::ResourceExhaustedError("too large"), absl::UnknownError("?"),
        absl::InternalError("!"), absl::FailedPreconditionError("ca file")}) {
    EXPECT_FALSE(IsRetryable(status, /*idempotent=*/true)) << status;
    EXPECT_FALSE(IsRetryable(MarkNotSent(status), /*idempotent=*/false)) << status;
  }
}

TEST(IsRetryableTest, NotSentMarkerMakesNonIdempotentRetryable) {
  const absl::Status refused = MarkNotSent(absl::UnavailableError("connection refused"));
  EXPECT_TRUE(IsMarkedNotSent(refused));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "connection refused");
  EXPECT_TRUE(IsRetryable(refused, /*idempotent=*/false));
  EXPECT_TRUE(IsRetryable(MarkNotSent(absl::DeadlineExceededError("connect")), false));
  EXPECT_FALSE(IsMarkedNotSent(absl::UnavailableError("reset")));
  EXPECT_TRUE(MarkNotSent(absl::OkStatus()).ok());
}

class ParseRetryAfterTest : public ::testing::Test {
 protected:
  // Sun, 06 Nov 1994 08:49:37 GMT minus 10 s.
  const absl::Time now_ =
      absl::FromCivil(absl::CivilSecond(1994, 11, 6, 8, 49, 27), absl::UTCTimeZone());
};

TEST_F(ParseRetryAfterTest, DelaySeconds) {
  EXPECT_THAT(ParseRetryAfter("0", now_), Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("1", now_), Optional(absl::Seconds(1)));
  EXPECT_THAT(ParseRetryAfter(" 120 ", now_), Optional(absl::Seconds(120)));
  EXPECT_THAT(ParseRetryAfter("3600", now_), Optional(absl::Hours(1)));
}

TEST_F(ParseRetryAfterTest, ClampsToOneHour) {
  EXPECT_THAT(ParseRetryAfter("3601", now_), Optional(kMaxRetryAfter));
  EXPECT_THAT(ParseRetryAfter("99999999999999999999999999", now_), Optional(kMaxRetryAfter));
  EXPECT_THAT(ParseRetryAfter("Mon, 07 Nov 1994 08:49:37 GMT", now_), Optional(kMaxRetryAfter));
}

TEST_F(ParseRetryAfterTest, HttpDates) {
  EXPECT_THAT(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now_), Optional(absl::Seconds(10)));
  EXPECT_THAT(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now_), Optional(absl::Seconds(10)));
  EXPECT_THAT(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now_), Optional(absl::Seconds(10)));
}

TEST_F(ParseRetryAfterTest, PastDateMeansNow) {
  EXPECT_THAT(ParseRetryAfter("Sat, 05 Nov 1994 08:49:37 GMT", now_),
              Optional(absl::ZeroDuration()));
}

TEST_F(ParseRetryAfterTest, GarbageIsRejected) {
  for (const char* value : {"", "  ", "-1", "-0", "1.5", "1e3", "+5", "soon", "5 seconds", "0x10",
                            "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 GMT trailing",
                            "Sun, 32 Nov 1994 08:49:37 GMT", "2024-01-01T00:00:00Z"}) {
    EXPECT_EQ(ParseRetryAfter(value, now_), std::nullopt) << "\"" << value << "\"";
  }
}

TEST(RetryAfterOfResponseTest, ReadsTheHeader) {
  HttpResponse response;
  response.status = 429;
  EXPECT_EQ(RetryAfterOf(response, absl::UnixEpoch()), std::nullopt);
  response.headers = {{"x-ratelimit-limit", "10"}, {"retry-after", "7"}};
  EXPECT_THAT(RetryAfterOf(response, absl::UnixEpoch()), Optional(absl::Seconds(7)));
}

TEST(BackoffTest, FullJitterStaysWithinTheExponentialCeiling) {
  RetryOptions options;
  options.initial_backoff = absl::Milliseconds(100);
  options.max_backoff = absl::Seconds(5);
  std::mt19937_64 rng(42);
  for (int retries = 0; retries < 12; ++retries) {
    const absl::Duration ceiling =
        std::min(absl::Milliseconds(100) * (int64_t{1} << retries), absl::Seconds(5));
    absl::Duration smallest = absl::InfiniteDuration();
    absl::Duration largest = absl::ZeroDuration();
    for (int i = 0; i < 2000; ++i) {
      const absl::Duration delay = Backoff(retries, options, rng);
      ASSERT_GE(delay, absl::ZeroDuration());
      ASSERT_LE(delay, ceiling) << "retries=" << retries;
      smallest = std::min(smallest, delay);
      largest = std::max(largest, delay);
    }
    // Full jitter spreads over the whole range, not just near the ceiling.
    EXPECT_LT(smallest, ceiling / 10) << "retries=" << retries;
    EXPECT_GT(largest, ceiling * 9 / 10) << "retries=" << retries;
  }
}

TEST(BackoffTest, SeededGeneratorIsReproducible) {
  RetryOptions options;
  std::mt19937_64 a(7);
  std::mt19937_64 b(7);
  for (int retries = 0; retries < 5; ++retries) {
    EXPECT_EQ(Backoff(retries, options, a), Backoff(retries, options, b));
  }
}

TEST(BackoffTest, HugeRetryCountsDoNotOverflow) {
  RetryOptions options;
  std::mt19937_64 rng(1);
  EXPECT_LE(Backoff(1000000, options, rng), options.max_backoff);
}

TEST(BackoffTest, RetryAfterIsAFloor) {
  RetryOptions options;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    EXPECT_GE(Backoff(0, options, rng, absl::Seconds(2)), absl::Seconds(2));
  }
  // A Retry-After smaller than the jitter does not shorten it below the jitter's own range.
  const absl::Duration with_small_floor = Backoff(3, options, rng, absl::Milliseconds(1));
  EXPECT_GE(with_small_floor, absl::Milliseconds(1));
  EXPECT_LE(with_small_floor, absl::Milliseconds(800));
}

TEST(BackoffTest, ZeroInitialBackoffMeansNoDelay) {
  RetryOptions options;
  options.initial_backoff = absl::ZeroDuration();
  std::mt19937_64 rng(3);
  EXPECT_EQ(Backoff(5, options, rng), absl::ZeroDuration());
}

TEST(RetryBudgetTest, AllowsRetriesUntilHalfTheTokensAreGone) {
  RetryBudget budget(/*max_tokens=*/10, /*token_ratio=*/0.5);
  EXPECT_DOUBLE_EQ(budget.tokens(), 10);
  for (int i = 0; i < 4; ++i) budget.RecordFailure();
  EXPECT_TRUE(budget.TryAcquireRetry());  // 6 > 5
  budget.RecordFailure();
  EXPECT_FALSE(budget.TryAcquireRetry());  // 5 is not > 5
  budget.RecordSuccess();
  EXPECT_TRUE(budget.TryAcquireRetry());  // 5.5
}

TEST(RetryBudgetTest, TokensStayWithinBounds) {
  RetryBudget budget(/*max_tokens=*/4, /*token_ratio=*/1);
  for (int i = 0; i < 10; ++i) budget.RecordSuccess();
  EXPECT_DOUBLE_EQ(budget.tokens(), 4);
  for (int i = 0; i < 10; ++i) budget.RecordFailure();
  EXPECT_DOUBLE_EQ(budget.tokens(), 0);
  EXPECT_FALSE(budget.TryAcquireRetry());
}

TEST(RetryBudgetTest, DefaultsFollowGrfcA6) {
  RetryBudget budget;
  for (int i = 0; i < 49; ++i) budget.RecordFailure();
  EXPECT_TRUE(budget.TryAcquireRetry());
  budget.RecordFailure();
  EXPECT_FALSE(budget.TryAcquireRetry());
  // Ten successes refund one token.
  for (int i = 0; i < 10; ++i) budget.RecordSuccess();
  EXPECT_TRUE(budget.TryAcquireRetry());
}

TEST(RetryBudgetTest, IsThreadSafe) {
  RetryBudget budget(/*max_tokens=*/100000, /*token_ratio=*/1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&budget] {
      for (int i = 0; i < 1000; ++i) {
        budget.RecordFailure();
        budget.RecordFailure();
        budget.RecordSuccess();
        (void)budget.TryAcquireRetry();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_DOUBLE_EQ(budget.tokens(), 100000 - 4000);
}

}  // namespace
}  // namespace onsync::clients
