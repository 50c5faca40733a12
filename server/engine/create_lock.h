// A cross-process lock for create-once: the seam through which ReferenceResolver::CreateOnce
// serializes the creates of one referenced record across server replicas (the in-process
// single-flight already serializes them within one process). With PostgreSQL configured it is
// jobs::PostgresCreateLock (a session-level advisory lock per key); without it there is none and
// nothing changes.
//
// Contract: Acquire calls `done` exactly once: with a Held once the lock named `key` is held by
// this caller (no other holder of a CreateLock on the same backing store holds it until the Held
// is destroyed), or with an error: DEADLINE_EXCEEDED when `deadline` passed first, UNAVAILABLE
// when the backing store cannot be reached. Destroying the Held releases the lock (asynchronously:
// the destructor never waits on the network). Keys are opaque text; two keys may map to the same
// lock (a hash), which only serializes unrelated creates, never lets two holders in at once.
//
// Thread safety: implementations are thread-safe. `done` runs on a thread of the implementation
// (never the caller's, except for errors found before any waiting), must not block, and may
// destroy the Held on any thread.
#ifndef ONSYNC_SERVER_ENGINE_CREATE_LOCK_H_
#define ONSYNC_SERVER_ENGINE_CREATE_LOCK_H_

#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace onsync::engine {

class CreateLock {
 public:
  // A held lock; destroying it releases the lock.
  class Held {
   public:
    virtual ~Held() = default;
  };
  using Done = absl::AnyInvocable<void(absl::StatusOr<std::unique_ptr<Held>>) &&>;

  virtual ~CreateLock() = default;

  virtual void Acquire(std::string key, absl::Time deadline, Done done) = 0;
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_CREATE_LOCK_H_
