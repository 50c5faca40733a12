#include "server/jobs/postgres_create_lock.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/jobs/postgres_connection.h"

namespace onsync::jobs {
namespace {

using pg::Connection;
using pg::Params;

constexpr std::string_view kComponent = "create lock";
constexpr const char* kSetLockTimeout = "SELECT set_config('lock_timeout', $1, false)";
constexpr const char* kLock = "SELECT pg_advisory_lock($1::bigint)";
constexpr const char* kUnlock = "SELECT pg_advisory_unlock($1::bigint)";

}  // namespace

struct PostgresCreateLock::State : std::enable_shared_from_this<State> {
  class HeldLock;
  struct Request {
    int64_t lock_id;
    absl::Time deadline;
    Done done;
  };
  struct Release {
    std::unique_ptr<Connection> connection;
    int64_t lock_id;
  };

  explicit State(PostgresCreateLockOptions options) : options(std::move(options)) {}

  void AcquireLoop();
  void ReleaseLoop();
  void Serve(Request request);
  // A connection of the pool, connected, before `deadline`.
  absl::StatusOr<std::unique_ptr<Connection>> TakeConnection(absl::Time deadline);
  // Back to the pool when it can be reused, else closed.
  void GiveBack(std::unique_ptr<Connection> connection);
  void Unlock(std::unique_ptr<Connection> connection, int64_t lock_id);

  const PostgresCreateLockOptions options;
  std::mutex mu;
  std::condition_variable work;                   // acquires or stopping
  std::condition_variable releasing;              // releases or stopping
  std::condition_variable returned;               // a connection became free
  std::deque<Request> acquires;                   // guarded by mu
  std::deque<Release> releases;                   // guarded by mu
  std::vector<std::unique_ptr<Connection>> idle;  // guarded by mu
  int open_connections = 0;                       // guarded by mu; idle, held and in use
  bool stopping = false;                          // guarded by mu
  std::vector<std::thread> threads;
};

// A held lock: its connection, until destroyed.
class PostgresCreateLock::State::HeldLock final : public engine::CreateLock::Held {
 public:
  HeldLock(std::shared_ptr<State> state, std::unique_ptr<Connection> connection, int64_t lock_id)
      : state_(std::move(state)), connection_(std::move(connection)), lock_id_(lock_id) {}
  ~HeldLock() override;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<Connection> connection_;
  int64_t lock_id_;
};

PostgresCreateLock::State::HeldLock::~HeldLock() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->stopping) {
      state_->releases.push_back({std::move(connection_), lock_id_});
      state_->releasing.notify_one();
      return;
    }
    --state_->open_connections;
  }
  // Stopping: closing the connection releases the lock server-side.
  connection_.reset();
}

absl::StatusOr<std::unique_ptr<Connection>> PostgresCreateLock::State::TakeConnection(
    absl::Time deadline) {
  std::unique_ptr<Connection> connection;
  {
    std::unique_lock<std::mutex> lock(mu);
    const auto until = absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Hours(24)));
    if (!returned.wait_until(lock, until, [this] {
          return stopping || !idle.empty() || open_connections < options.max_connections;
        })) {
      return absl::DeadlineExceededError(
          "create lock: the deadline passed while waiting for a free PostgreSQL connection");
    }
    if (stopping) return absl::CancelledError("create lock: stopping");
    if (!idle.empty()) {
      connection = std::move(idle.back());
      idle.pop_back();
    } else {
      ++open_connections;
    }
  }
  if (connection != nullptr && connection->IsAlive()) return connection;
  connection.reset();
  absl::StatusOr<std::unique_ptr<Connection>> fresh = Connection::Open(options.dsn, kComponent);
  if (!fresh.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu);
      --open_connections;
    }
    returned.notify_one();
  }
  return fresh;
}

void PostgresCreateLock::State::GiveBack(std::unique_ptr<Connection> connection) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (connection->IsReusable() && !stopping) {
      idle.push_back(std::move(connection));
    } else {
      --open_connections;
    }
  }
  connection.reset();  // a broken one is closed outside the lock
  returned.notify_one();
}

void PostgresCreateLock::State::Serve(Request request) {
  absl::StatusOr<std::unique_ptr<Connection>> connection = TakeConnection(request.deadline);
  if (!connection.ok()) return std::move(request.done)(connection.status());
  const absl::Duration left = request.deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    GiveBack(*std::move(connection));
    return std::move(request.done)(
        absl::DeadlineExceededError("create lock: the deadline passed before the lock was asked"));
  }
  // lock_timeout 0 waits forever: an infinite deadline.
  const int64_t timeout_ms =
      left == absl::InfiniteDuration()
          ? 0
          : std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                                1, 1 << 30);
  absl::Status status =
      (*connection)
          ->Exec("set lock_timeout", kSetLockTimeout, Params().Text(absl::StrCat(timeout_ms)))
          .status();
  if (status.ok()) {
    status = (*connection)->Exec("lock", kLock, Params().Int(request.lock_id)).status();
  }
  if (!status.ok()) {
    const bool timed_out = absl::StrContains(status.message(), "SQLSTATE 55P03");
    GiveBack(*std::move(connection));
    if (timed_out) {
      return std::move(request.done)(absl::DeadlineExceededError(
          "create lock: the deadline passed while another replica held the lock"));
    }
    return std::move(request.done)(status);
  }
  // The Held keeps the state alive: it may be destroyed after the lock object.
  std::move(request.done)(
      std::make_unique<HeldLock>(shared_from_this(), *std::move(connection), request.lock_id));
}

void PostgresCreateLock::State::Unlock(std::unique_ptr<Connection> connection, int64_t lock_id) {
  absl::StatusOr<pg::Result> unlocked = connection->Exec("unlock", kUnlock, Params().Int(lock_id));
  if (!unlocked.ok() || unlocked->rows() != 1 || !unlocked->Bool(0, 0)) {
    // Not released (the connection broke, or it was not held): closing the session releases
    // whatever it holds.
    {
      std::lock_guard<std::mutex> lock(mu);
      --open_connections;
    }
    connection.reset();
    returned.notify_one();
    return;
  }
  GiveBack(std::move(connection));
}

void PostgresCreateLock::State::AcquireLoop() {
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    work.wait(lock, [this] { return stopping || !acquires.empty(); });
    if (stopping) return;
    Request request = std::move(acquires.front());
    acquires.pop_front();
    lock.unlock();
    Serve(std::move(request));
    lock.lock();
  }
}

void PostgresCreateLock::State::ReleaseLoop() {
  std::unique_lock<std::mutex> lock(mu);
  while (true) {
    releasing.wait(lock, [this] { return stopping || !releases.empty(); });
    if (releases.empty()) return;  // stopping
    Release release = std::move(releases.front());
    releases.pop_front();
    lock.unlock();
    Unlock(std::move(release.connection), release.lock_id);
    lock.lock();
  }
}

absl::StatusOr<std::unique_ptr<PostgresCreateLock>> PostgresCreateLock::Open(
    PostgresCreateLockOptions options) {
  if (options.threads < 1 || options.threads > 64 || options.max_connections < options.threads ||
      options.max_connections > 1000) {
    return absl::InvalidArgumentError(
        "create lock: threads must be 1..64 and max_connections threads..1000");
  }
  if (absl::Status dsn = pg::CheckDsn(options.dsn); !dsn.ok()) return dsn;
  auto state = std::make_shared<State>(std::move(options));
  // One connection now: a database that cannot be reached fails the start, not the first create.
  absl::StatusOr<std::unique_ptr<Connection>> first =
      Connection::Open(state->options.dsn, kComponent);
  if (!first.ok()) return first.status();
  state->idle.push_back(*std::move(first));
  state->open_connections = 1;
  for (int i = 0; i < state->options.threads; ++i) {
    state->threads.emplace_back([raw = state.get()] { raw->AcquireLoop(); });
  }
  state->threads.emplace_back([raw = state.get()] { raw->ReleaseLoop(); });
  return std::unique_ptr<PostgresCreateLock>(new PostgresCreateLock(std::move(state)));
}

PostgresCreateLock::PostgresCreateLock(std::shared_ptr<State> state) : state_(std::move(state)) {}

PostgresCreateLock::~PostgresCreateLock() {
  std::deque<State::Request> pending;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->work.notify_all();
  state_->releasing.notify_all();
  state_->returned.notify_all();
  for (std::thread& thread : state_->threads) thread.join();
  std::vector<std::unique_ptr<Connection>> idle;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    pending.swap(state_->acquires);
    idle.swap(state_->idle);
    state_->open_connections -= static_cast<int>(idle.size());
  }
  for (State::Request& request : pending) {
    std::move(request.done)(absl::CancelledError("create lock: stopping"));
  }
}

void PostgresCreateLock::Acquire(std::string key, absl::Time deadline, Done done) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->stopping) {
      state_->acquires.push_back({LockId(key), deadline, std::move(done)});
      state_->work.notify_one();
      return;
    }
  }
  std::move(done)(absl::CancelledError("create lock: stopping"));
}

int64_t PostgresCreateLock::LockId(std::string_view key) {
  // 64-bit FNV-1a, stable across builds and PostgreSQL versions (unlike hashtext()).
  uint64_t hash = 14695981039346656037ull;
  for (const char c : absl::StrCat("onsync create\x1f", pg::AsAbsl(key))) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return static_cast<int64_t>(hash);
}

}  // namespace onsync::jobs
