// WatchJob's server streams: each watch sends the job when the watch starts and again whenever it
// changes (state, attempts, progress, update time), and ends after sending a job that has ended
// (SUCCEEDED, DEAD, CANCELLED). One thread polls the store for every open watch every
// `interval`; the store stays the one source of truth, also for jobs run by other processes.
//
// Thread safety: Watch may be called from any gRPC thread; Stop once, before destruction.
#ifndef ONSYNC_SERVER_SERVICE_JOB_WATCHERS_H_
#define ONSYNC_SERVER_SERVICE_JOB_WATCHERS_H_

#include <grpcpp/support/server_callback.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "onsync/v1/sync_service.pb.h"
#include "server/jobs/job_store.h"

namespace onsync::server {

class JobWatchers {
 public:
  explicit JobWatchers(jobs::JobStore& store, absl::Duration interval = absl::Milliseconds(100));
  ~JobWatchers();

  // The reactor of one WatchJob call (NOT_FOUND at once for an unknown job).
  grpc::ServerWriteReactor<onsync::v1::WatchJobResponse>* Watch(std::string job_id);
  // A stream that ends at once with `status`.
  static grpc::ServerWriteReactor<onsync::v1::WatchJobResponse>* Refuse(absl::Status status);

  // Ends every open watch (UNAVAILABLE) and the polling thread.
  void Stop();

 private:
  class Stream;

  void Loop();
  void Remove(Stream* stream);

  jobs::JobStore& store_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;   // guarded by mu_
  std::set<Stream*> open_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_JOB_WATCHERS_H_
