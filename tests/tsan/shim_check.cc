// Checks tests/tsan/absl_sync_tsan_shim.cc under ThreadSanitizer: one scenario per run
// (`shim_check <scenario>`), so that each TSan report ends its own process (halt_on_error).
//
// Every scenario but `unguarded` shares plain data between threads through one of Abseil's
// synchronization primitives only: with the shim linked in, TSan must stay silent; without it
// (tsan_shim_check_noshim), TSan reports each as a data race, which is why the shim exists.
// `status` checks the shim's absl::Status reference count the same way. `unguarded` is a real race
// that TSan must still report with the shim.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace {

constexpr int kRounds = 1000;

// Two threads increment a plain int under absl::MutexLock.
int Guarded() {
  absl::Mutex mu;
  int counter = 0;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&mu);
      ++counter;
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  return counter == 2 * kRounds ? 0 : 1;
}

// The same increments with no synchronization at all: a real race.
int Unguarded() {
  int counter = 0;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) ++counter;
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  return counter > 0 ? 0 : 1;
}

// One writer under Lock and two readers under ReaderLock that only read.
int Reader() {
  absl::Mutex mu;
  int value = 0;
  std::thread writer([&] {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&mu);
      ++value;
    }
  });
  auto read = [&] {
    long seen = 0;
    for (int i = 0; i < kRounds; ++i) {
      absl::ReaderMutexLock lock(&mu);
      seen += value;
    }
    return seen;
  };
  long other = 0;
  std::thread reader([&] { other = read(); });
  const long mine = read();
  writer.join();
  reader.join();
  return mine >= 0 && other >= 0 ? 0 : 1;
}

// Two threads that write under a shared (reader) lock: a real race, which the shim must not hide
// by ordering readers with each other.
int ReaderWrites() {
  absl::Mutex mu;
  int counter = 0;
  auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      absl::ReaderMutexLock lock(&mu);
      ++counter;
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  return counter > 0 ? 0 : 1;
}

// A thread publishes a value under the mutex; the main thread waits with LockWhen on a Condition
// that reads guarded data (evaluated by Abseil, possibly in the publishing thread).
int Condition() {
  absl::Mutex mu;
  int value = 0;
  bool ready = false;
  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    absl::MutexLock lock(&mu);
    value = 42;
    ready = true;
  });
  mu.LockWhen(absl::Condition(&ready));
  const int got = value;
  mu.Unlock();
  mu.LockWhen(absl::Condition(
      +[](int* v) { return *v == 42; }, &value));
  mu.Unlock();
  producer.join();
  return got == 42 ? 0 : 1;
}

// Await (and AwaitWithTimeout) inside a critical section while another thread updates the data.
int Await() {
  absl::Mutex mu;
  int value = 0;
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) {
      absl::SleepFor(absl::Milliseconds(2));
      absl::MutexLock lock(&mu);
      ++value;
    }
  });
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* v) { return *v >= 5; }, &value));
    value += 100;
    mu.AwaitWithTimeout(absl::Condition(
                            +[](int* v) { return *v >= 110; }, &value),
                        absl::Seconds(10));
  }
  producer.join();
  absl::MutexLock lock(&mu);
  return value == 110 ? 0 : 1;
}

// The classic condition variable loop.
int CondVar() {
  absl::Mutex mu;
  absl::CondVar cv;
  int value = 0;
  bool ready = false;
  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    absl::MutexLock lock(&mu);
    value = 42;
    ready = true;
    cv.Signal();
  });
  int got = 0;
  {
    absl::MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
    got = value;
  }
  producer.join();
  return got == 42 ? 0 : 1;
}

// Data written before Notify, read after HasBeenNotified() (an inline acquire load) says so.
int Notification() {
  absl::Notification done;
  int value = 0;
  std::thread producer([&] {
    value = 42;
    done.Notify();
  });
  while (!done.HasBeenNotified()) absl::SleepFor(absl::Milliseconds(1));
  const int got = value;
  producer.join();
  return got == 42 ? 0 : 1;
}

// Data written before Notify, read after WaitForNotificationWithTimeout returns true on its fast
// path (notified already: the library returns without taking the mutex).
int NotificationWait() {
  absl::Notification done;
  int value = 0;
  std::thread producer([&] {
    value = 42;
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(50));
  if (!done.WaitForNotificationWithTimeout(absl::Seconds(10))) return 1;
  const int got = value;
  producer.join();
  return got == 42 ? 0 : 1;
}

// Workers fill their own slot, then DecrementCount; the main thread reads every slot after Wait.
int Counter() {
  constexpr int kWorkers = 4;
  absl::BlockingCounter counter(kWorkers);
  std::vector<int> slots(kWorkers, 0);
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([&, i] {
      slots[i] = i + 1;
      counter.DecrementCount();
    });
  }
  counter.Wait();
  int sum = 0;
  for (int slot : slots) sum += slot;
  for (std::thread& worker : workers) worker.join();
  return sum == 10 ? 0 : 1;
}

// Two owners of one absl::Status representation: a thread reads the message, drops its copy and
// says so with a relaxed store (no happens-before by itself); the main thread then drops the last
// copy, which deletes the representation. Only the reference count orders the read before the
// delete.
int Status() {
  absl::Status status = absl::InternalError(std::string(64, 'x'));
  std::atomic<bool> dropped{false};
  std::thread owner([copy = status, &dropped]() mutable {
    const std::string message(copy.message());
    copy = absl::OkStatus();
    dropped.store(!message.empty(), std::memory_order_relaxed);
  });
  while (!dropped.load(std::memory_order_relaxed)) absl::SleepFor(absl::Milliseconds(1));
  status = absl::OkStatus();
  owner.join();
  return 0;
}

struct Scenario {
  const char* name;
  int (*run)();
};
constexpr Scenario kScenarios[] = {
    {"guarded", Guarded},
    {"unguarded", Unguarded},
    {"reader", Reader},
    {"reader_writes", ReaderWrites},
    {"condition", Condition},
    {"await", Await},
    {"condvar", CondVar},
    {"notification", Notification},
    {"notification_wait", NotificationWait},
    {"blocking_counter", Counter},
    {"status", Status},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) {
    for (const Scenario& scenario : kScenarios) {
      if (std::strcmp(argv[1], scenario.name) == 0) {
        const int rc = scenario.run();
        std::printf("shim_check %s: %s\n", scenario.name, rc == 0 ? "done" : "WRONG RESULT");
        return rc;
      }
    }
  }
  std::fprintf(stderr, "usage: %s <scenario>; scenarios:", argv[0]);
  for (const Scenario& scenario : kScenarios) std::fprintf(stderr, " %s", scenario.name);
  std::fprintf(stderr, "\n");
  return 2;
}
