// ReferenceResolver::CreateOnce with a cross-process lock (engine::CreateLock), against the
// sandbox with the real clients: the re-check query and the create both happen while the lock is
// held, a record that "another process" created while this one waited is found and not created
// again, a lock error fails the create, and without a lock nothing changes (no re-check).
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/engine/create_lock.h"
#include "server/engine/reference_resolver.h"
#include "tests/server/engine/sandbox_engine_test_base.h"

namespace onsync::engine {
namespace {

using clients::onspring::FieldValue;
using sandbox::FakeKind;

constexpr char kQuery[] = "POST /Records/Query";
constexpr char kSave[] = "PUT /Records";
constexpr int kUsersApp = 100;
constexpr int kFullName = 1005;

// A lock the test grants by hand; it notes the sandbox's query and save counts when granted and
// when released.
class FakeLock final : public CreateLock {
 public:
  explicit FakeLock(sandbox::Sandbox& box) : box_(box) {}

  struct Marks {
    int64_t queries = 0;
    int64_t saves = 0;
  };

  void Acquire(std::string key, absl::Time, Done done) override {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.push_back(std::move(key));
    pending_.push_back(std::move(done));
    changed_.notify_all();
  }

  // Waits for the next Acquire (10 s at most); false when none came.
  bool WaitForAcquire() {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return !pending_.empty(); });
  }

  // Grants the oldest pending Acquire (or fails it with `error`).
  void Grant(absl::Status error = absl::OkStatus()) {
    Done done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done = std::move(pending_.front());
      pending_.erase(pending_.begin());
      at_grant_ = Now();
    }
    if (!error.ok()) return std::move(done)(error);
    std::move(done)(std::make_unique<FakeHeld>(*this));
  }

  Marks at_grant() {
    std::lock_guard<std::mutex> lock(mu_);
    return at_grant_;
  }
  std::optional<Marks> at_release() {
    std::lock_guard<std::mutex> lock(mu_);
    return at_release_;
  }
  std::vector<std::string> keys() {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }
  // Waits until the Held was destroyed.
  bool WaitForRelease() {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(10),
                             [&] { return at_release_.has_value(); });
  }

 private:
  class FakeHeld final : public Held {
   public:
    explicit FakeHeld(FakeLock& lock) : lock_(lock) {}
    ~FakeHeld() override {
      std::lock_guard<std::mutex> lock(lock_.mu_);
      lock_.at_release_ = lock_.Now();
      lock_.changed_.notify_all();
    }

   private:
    FakeLock& lock_;
  };

  Marks Now() {
    return {box_.CallCount(FakeKind::kOnspring, kQuery),
            box_.CallCount(FakeKind::kOnspring, kSave)};
  }

  sandbox::Sandbox& box_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Done> pending_;        // guarded by mu_
  std::vector<std::string> keys_;    // guarded by mu_
  Marks at_grant_;                   // guarded by mu_
  std::optional<Marks> at_release_;  // guarded by mu_
};

// A user's fields: Full Name (1005) is a formula of First (1001) and Last Name (1002).
std::map<int, FieldValue> NameFields(const std::string& name) {
  const size_t space = name.find(' ');
  return {{1001, FieldValue::String(name.substr(0, space))},
          {1002, FieldValue::String(name.substr(space + 1))}};
}

class CreateOnceLockTest : public SandboxEngineTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartSandbox()); }

  std::future<absl::StatusOr<CreateResult>> Create(ReferenceResolver& resolver,
                                                   const std::string& name) {
    auto promise = std::make_shared<std::promise<absl::StatusOr<CreateResult>>>();
    auto future = promise->get_future();
    resolver.CreateOnce(
        *upstreams_.onspring, "sandbox", kUsersApp, kFullName, name, NameFields(name),
        absl::Now() + absl::Seconds(10),
        [promise](absl::StatusOr<CreateResult> result) { promise->set_value(std::move(result)); });
    return future;
  }

  // Creates a user as another process would (straight through the client).
  int64_t CreateElsewhere(const std::string& name) {
    std::promise<absl::StatusOr<clients::onspring::SaveResult>> promise;
    upstreams_.onspring->SaveRecord(kUsersApp, 0, NameFields(name), absl::Now() + absl::Seconds(10),
                                    [&](auto saved) { promise.set_value(std::move(saved)); });
    auto saved = promise.get_future().get();
    EXPECT_TRUE(saved.ok()) << saved.status();
    return saved.ok() ? saved->id : 0;
  }

  int Users(const std::string& name) {
    std::promise<absl::StatusOr<std::vector<clients::onspring::Record>>> promise;
    upstreams_.onspring->QueryRecords(kUsersApp, absl::StrCat(kFullName, " eq '", name, "'"), {},
                                      absl::Now() + absl::Seconds(5),
                                      [&](auto records) { promise.set_value(std::move(records)); });
    auto records = promise.get_future().get();
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? static_cast<int>(records->size()) : -1;
  }

  int64_t Count(const char* route) { return sandbox_->CallCount(FakeKind::kOnspring, route); }
};

TEST_F(CreateOnceLockTest, ReChecksAndCreatesWhileHoldingTheLock) {
  auto lock = std::make_shared<FakeLock>(*sandbox_);
  ReferenceResolver resolver(clients::RealClock(), {}, lock);
  const int64_t queries = Count(kQuery);
  const int64_t saves = Count(kSave);
  auto created = Create(resolver, "Zed Zulu");
  ASSERT_TRUE(lock->WaitForAcquire());
  // Nothing is asked of Onspring before the lock is held.
  EXPECT_EQ(Count(kQuery), queries);
  EXPECT_EQ(Count(kSave), saves);
  lock->Grant();
  absl::StatusOr<CreateResult> result = created.get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->created_here);
  ASSERT_TRUE(lock->WaitForRelease());
  // Between grant and release: one re-check query, then one create.
  EXPECT_EQ(lock->at_grant().queries, queries);
  EXPECT_EQ(lock->at_grant().saves, saves);
  EXPECT_EQ(lock->at_release()->queries, queries + 1);
  EXPECT_EQ(lock->at_release()->saves, saves + 1);
  EXPECT_EQ(Users("Zed Zulu"), 1);
  ASSERT_EQ(lock->keys().size(), 1u);
  // A later caller reuses the record: no lock, no request.
  absl::StatusOr<CreateResult> again = Create(resolver, "Zed Zulu").get();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->record_id, result->record_id);
  EXPECT_FALSE(again->created_here);
  EXPECT_EQ(lock->keys().size(), 1u);
}

TEST_F(CreateOnceLockTest, ARecordCreatedElsewhereWhileWaitingIsFoundNotCreatedAgain) {
  auto lock = std::make_shared<FakeLock>(*sandbox_);
  ReferenceResolver resolver(clients::RealClock(), {}, lock);
  // Concurrent callers in this process join one flight: one Acquire.
  std::vector<std::future<absl::StatusOr<CreateResult>>> created;
  for (int i = 0; i < 8; ++i) created.push_back(Create(resolver, "Yara Young"));
  ASSERT_TRUE(lock->WaitForAcquire());
  // Another replica holds the lock and creates the record meanwhile.
  const int64_t elsewhere = CreateElsewhere("Yara Young");
  ASSERT_NE(elsewhere, 0);
  const int64_t saves = Count(kSave);
  lock->Grant();
  for (auto& future : created) {
    absl::StatusOr<CreateResult> result = future.get();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->record_id, elsewhere);
    EXPECT_FALSE(result->created_here);
  }
  EXPECT_EQ(Count(kSave), saves);  // not created again
  EXPECT_EQ(Users("Yara Young"), 1);
  EXPECT_EQ(lock->keys().size(), 1u);
  ASSERT_TRUE(lock->WaitForRelease());
}

TEST_F(CreateOnceLockTest, ALockErrorFailsTheCreateWithoutAnyRequest) {
  auto lock = std::make_shared<FakeLock>(*sandbox_);
  ReferenceResolver resolver(clients::RealClock(), {}, lock);
  const int64_t queries = Count(kQuery);
  const int64_t saves = Count(kSave);
  auto created = Create(resolver, "Xavier Xu");
  ASSERT_TRUE(lock->WaitForAcquire());
  lock->Grant(absl::DeadlineExceededError("lock wait"));
  absl::StatusOr<CreateResult> result = created.get();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Count(kQuery), queries);
  EXPECT_EQ(Count(kSave), saves);
  EXPECT_EQ(Users("Xavier Xu"), 0);
}

TEST_F(CreateOnceLockTest, WithoutALockThereIsNoReCheck) {
  ReferenceResolver resolver(clients::RealClock(), {});
  const int64_t queries = Count(kQuery);
  const int64_t saves = Count(kSave);
  absl::StatusOr<CreateResult> result = Create(resolver, "Wanda West").get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->created_here);
  EXPECT_EQ(Count(kQuery), queries);
  EXPECT_EQ(Count(kSave), saves + 1);
}

}  // namespace
}  // namespace onsync::engine
