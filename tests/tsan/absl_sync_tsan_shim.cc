// ThreadSanitizer shim for Debian's Abseil (linked only into the executables of the `tsan` preset;
// see tests/tsan/CMakeLists.txt).
//
// Debian's libabsl_synchronization.so is not built with -fsanitize=thread, so absl::Mutex,
// absl::CondVar, absl::Notification, absl::BlockingCounter and absl::Barrier synchronize in code
// TSan does not see: data guarded by an absl::Mutex in our (instrumented) code would be reported
// as racing. This file defines the exported entry points of those classes in the executable, which
// interposes them process-wide (our code, gRPC's libgpr/libgrpc, and libabsl_synchronization's own
// calls through its PLT all land here). Each one forwards to the real function (dlsym(RTLD_NEXT)
// on its mangled name) and tells TSan about the happens-before edge the real function creates,
// with __tsan_acquire/__tsan_release on addresses derived from the object:
//
//   Writer(mu) = mu      released by exclusive unlocks; acquired by every lock (shared or not).
//   Reader(mu) = mu + 1  released by shared unlocks; acquired by exclusive locks only, so two
//                        readers are not ordered with each other (as TSan models a reader lock).
//
// A release is annotated just before the real function releases, an acquire just after it
// acquires: the annotated critical section lies inside the real one, so every edge given to TSan
// exists. The instrumented code Abseil runs while a thread is inside the real call is a
// Condition's function (LockWhen, Await, ReaderLockWhen...; Abseil may evaluate a waiter's
// condition in the thread that is unlocking). Every Condition is therefore wrapped: its
// evaluation acquires Writer(mu) and releases both addresses, like a critical section of its own
// (Abseil only evaluates conditions with the mutex held).
//
// absl::Status shares its heap representation between copies with an atomic reference count;
// the decrement that may delete it is out of line (Status::UnrefNonInlined, libabsl_status), so
// TSan does not see the last owner's delete ordered after the other owners' last reads. That one
// function is defined here again, instrumented: the same code as Abseil 20220623's status.cc (the
// disassembly of Debian's library matches it), not forwarded.
//
// Approximations, all on the side of missing a race, never of reporting a false one: a wait inside
// a shared (reader) lock (Await, CondVar::Wait under ReaderLock) is annotated as exclusive, which
// orders it with other readers; a Mutex destroyed without being freed (on the stack) keeps its
// synchronization clock for the next object at that address.
//
// tests/tsan/shim_check.cc checks the shim: guarded data is clean with it, reported without it,
// and a real race is still reported with it.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if !defined(__SANITIZE_THREAD__) && !(defined(__has_feature) && __has_feature(thread_sanitizer))
#error "absl_sync_tsan_shim.cc is for -fsanitize=thread builds only"
#endif

namespace {

// The real (next) definition of an interposed function; aborts when it is missing (another
// Abseil version: the mangled names below carry Debian's inline namespace absl::debian3).
template <typename Fn>
Fn Next(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_sync_tsan_shim: %s not found (%s)\n", mangled, dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

void* Writer(const absl::Mutex* mu) { return const_cast<absl::Mutex*>(mu); }
void* Reader(const absl::Mutex* mu) {
  return reinterpret_cast<char*>(const_cast<absl::Mutex*>(mu)) + 1;
}

void AcquireExclusive(const absl::Mutex* mu) {
  __tsan_acquire(Writer(mu));
  __tsan_acquire(Reader(mu));
}
void AcquireShared(const absl::Mutex* mu) { __tsan_acquire(Writer(mu)); }
void ReleaseExclusive(const absl::Mutex* mu) { __tsan_release(Writer(mu)); }
void ReleaseShared(const absl::Mutex* mu) { __tsan_release(Reader(mu)); }
// Before a wait that gives the mutex up while the caller holds it in a mode we do not know.
void ReleaseEither(const absl::Mutex* mu) {
  __tsan_release(Writer(mu));
  __tsan_release(Reader(mu));
}

// A Condition whose evaluation is annotated as a critical section of `mu` (see the top comment).
// Lives on the interposer's stack for the whole real call, which is as long as Abseil uses it.
class AnnotatedCondition {
 public:
  AnnotatedCondition(const absl::Condition& inner, const absl::Mutex* mu)
      : inner_(inner), mu_(mu), condition_(&Eval, this) {}
  AnnotatedCondition(const AnnotatedCondition&) = delete;
  AnnotatedCondition& operator=(const AnnotatedCondition&) = delete;

  const absl::Condition& get() const { return condition_; }

 private:
  static bool Eval(void* self) {
    auto* annotated = static_cast<AnnotatedCondition*>(self);
    __tsan_acquire(Writer(annotated->mu_));
    const bool result = annotated->inner_.Eval();
    ReleaseEither(annotated->mu_);
    return result;
  }

  const absl::Condition& inner_;
  const absl::Mutex* mu_;
  absl::Condition condition_;
};

}  // namespace

// The real function, resolved once (thread-safe static).
#define ONSYNC_NEXT(type, mangled) static const auto next = Next<type>(mangled)

namespace absl {
ABSL_NAMESPACE_BEGIN

// ---- Mutex ----------------------------------------------------------------------------------

void Mutex::Lock() {
  ONSYNC_NEXT(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  next(this);
  AcquireExclusive(this);
}

void Mutex::Unlock() {
  ONSYNC_NEXT(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  ReleaseExclusive(this);
  next(this);
}

bool Mutex::TryLock() {
  ONSYNC_NEXT(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = next(this);
  if (locked) AcquireExclusive(this);
  return locked;
}

void Mutex::ReaderLock() {
  ONSYNC_NEXT(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  next(this);
  AcquireShared(this);
}

void Mutex::ReaderUnlock() {
  ONSYNC_NEXT(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  ReleaseShared(this);
  next(this);
}

bool Mutex::ReaderTryLock() {
  ONSYNC_NEXT(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = next(this);
  if (locked) AcquireShared(this);
  return locked;
}

void Mutex::LockWhen(const Condition& cond) {
  ONSYNC_NEXT(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated(cond, this);
  next(this, annotated.get());
  AcquireExclusive(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated(cond, this);
  const bool result = next(this, annotated.get(), timeout);
  AcquireExclusive(this);  // held on return either way
  return result;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated(cond, this);
  const bool result = next(this, annotated.get(), deadline);
  AcquireExclusive(this);
  return result;
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  ONSYNC_NEXT(void (*)(Mutex*, const Condition&),
              "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  AnnotatedCondition annotated(cond, this);
  next(this, annotated.get());
  AcquireShared(this);
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated(cond, this);
  const bool result = next(this, annotated.get(), timeout);
  AcquireShared(this);
  return result;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated(cond, this);
  const bool result = next(this, annotated.get(), deadline);
  AcquireShared(this);
  return result;
}

void Mutex::Await(const Condition& cond) {
  ONSYNC_NEXT(void (*)(Mutex*, const Condition&), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  AnnotatedCondition annotated(cond, this);
  ReleaseEither(this);
  next(this, annotated.get());
  AcquireExclusive(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Duration),
              "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AnnotatedCondition annotated(cond, this);
  ReleaseEither(this);
  const bool result = next(this, annotated.get(), timeout);
  AcquireExclusive(this);
  return result;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  ONSYNC_NEXT(bool (*)(Mutex*, const Condition&, absl::Time),
              "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AnnotatedCondition annotated(cond, this);
  ReleaseEither(this);
  const bool result = next(this, annotated.get(), deadline);
  AcquireExclusive(this);
  return result;
}

// ---- CondVar (Signal/SignalAll order nothing by themselves: the mutex does) ------------------

void CondVar::Wait(Mutex* mu) {
  ONSYNC_NEXT(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  ReleaseEither(mu);
  next(this, mu);
  AcquireExclusive(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  ONSYNC_NEXT(bool (*)(CondVar*, Mutex*, absl::Duration),
              "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  ReleaseEither(mu);
  const bool result = next(this, mu, timeout);
  AcquireExclusive(mu);
  return result;
}

bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  ONSYNC_NEXT(bool (*)(CondVar*, Mutex*, absl::Time),
              "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  ReleaseEither(mu);
  const bool result = next(this, mu, deadline);
  AcquireExclusive(mu);
  return result;
}

// ---- Notification ----------------------------------------------------------------------------
// The waits return without touching the mutex once notified, and HasBeenNotified() is an inline
// (instrumented) acquire load of notified_yet_, whose store is in the library: Notify releases on
// that atomic's address, which both the inline load and the waits below acquire.

void Notification::Notify() {
  ONSYNC_NEXT(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  __tsan_release(&notified_yet_);
  next(this);
}

void Notification::WaitForNotification() const {
  ONSYNC_NEXT(void (*)(const Notification*),
              "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  next(this);
  __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
}

bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  ONSYNC_NEXT(bool (*)(const Notification*, absl::Duration),
              "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = next(this, timeout);
  if (notified) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  ONSYNC_NEXT(bool (*)(const Notification*, absl::Time),
              "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = next(this, deadline);
  if (notified) __tsan_acquire(const_cast<std::atomic<bool>*>(&notified_yet_));
  return notified;
}

// ---- BlockingCounter and Barrier (counts kept outside the mutex) -----------------------------

bool BlockingCounter::DecrementCount() {
  ONSYNC_NEXT(bool (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter14DecrementCountEv");
  __tsan_release(this);
  const bool last = next(this);
  if (last) __tsan_acquire(this);  // the last one sees every other decrement's writes
  return last;
}

void BlockingCounter::Wait() {
  ONSYNC_NEXT(void (*)(BlockingCounter*), "_ZN4absl7debian315BlockingCounter4WaitEv");
  next(this);
  __tsan_acquire(this);
}

bool Barrier::Block() {
  ONSYNC_NEXT(bool (*)(Barrier*), "_ZN4absl7debian37Barrier5BlockEv");
  __tsan_release(this);
  const bool last = next(this);
  __tsan_acquire(this);
  return last;
}

// ---- Status (an atomic reference count, not forwarded: see the top comment) -----------------

void Status::UnrefNonInlined(uintptr_t rep) {
  status_internal::StatusRep* r = RepToPointer(rep);
  // The last reference needs no decrement: no other thread can be using the representation.
  if (r->ref.load(std::memory_order_acquire) == 1 ||
      r->ref.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) {
    delete r;
  }
}

ABSL_NAMESPACE_END
}  // namespace absl
