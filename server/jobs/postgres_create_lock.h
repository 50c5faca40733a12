// The PostgreSQL create lock (engine::CreateLock): replicas that share one database serialize the
// creates of one referenced record with a session-level advisory lock,
// pg_advisory_lock(bigint), whose key is a stable 64-bit FNV-1a hash of the create key (scope,
// app, match field and match value). A collision of two keys only serializes two unrelated
// creates. The one-bigint key space is separate from the (int, int) one that the job store's
// transaction locks use, so the two never meet.
//
// Threads: waiting for a lock happens on this object's own acquirer threads (`threads`), never on
// the caller's: each takes a connection of its own from a small pool (at most `max_connections`,
// each one holding at most one lock), bounds the wait by the deadline (lock_timeout), and calls
// `done` on that thread. Releases (pg_advisory_unlock) run on one release thread of their own,
// so a release never waits behind acquirers that wait for locks held elsewhere. A connection
// that broke releases its locks server-side (PostgreSQL drops a session's advisory locks when
// the session ends; a killed replica's locks go with its connections): acquiring on it yields
// UNAVAILABLE, and it is closed instead of being reused.
//
// Errors: DEADLINE_EXCEEDED when the deadline passed while waiting (for the lock, or for a free
// connection); UNAVAILABLE when PostgreSQL cannot be reached; CANCELLED once stopping.
//
// Thread safety: thread-safe. Held locks may outlive this object: destroying one then closes its
// connection (which releases the lock).
#ifndef ONSYNC_SERVER_JOBS_POSTGRES_CREATE_LOCK_H_
#define ONSYNC_SERVER_JOBS_POSTGRES_CREATE_LOCK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/engine/create_lock.h"

namespace onsync::jobs {

struct PostgresCreateLockOptions {
  // A libpq connection string; a secret (never logged).
  std::string dsn;
  // Threads that wait for locks: 1..64.
  int threads = 4;
  // Connections (each holds one lock at a time): threads..1000.
  int max_connections = 32;
};

class PostgresCreateLock final : public engine::CreateLock {
 public:
  // Checks the DSN and connects once (UNAVAILABLE when the database cannot be reached).
  static absl::StatusOr<std::unique_ptr<PostgresCreateLock>> Open(
      PostgresCreateLockOptions options);
  ~PostgresCreateLock() override;  // Stops the threads; pending acquires end CANCELLED.

  void Acquire(std::string key, absl::Time deadline, Done done) override;

  // The advisory lock key of `key` (for tests and operators: pg_locks shows it as classid =
  // high 32 bits, objid = low 32 bits, objsubid = 1).
  static int64_t LockId(std::string_view key);

 private:
  struct State;
  explicit PostgresCreateLock(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
};

}  // namespace onsync::jobs

#endif  // ONSYNC_SERVER_JOBS_POSTGRES_CREATE_LOCK_H_
