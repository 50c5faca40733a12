// Runs the attempts of durable jobs for the WorkerPool: an event job is one SyncRecord-like run of
// the engine (mode WRITE_BACK unless the job says DRY_RUN); a batch job is a RunBatch over the
// profile's ServiceNow table, checkpointed through the attempt, resuming from the job's progress,
// and leaving the profile's watermark for the next incremental run.
//
// Thread safety: RunAttempt may be called concurrently from the pool's worker threads; it blocks
// the calling worker until the attempt ends (bounded by `attempt_timeout` for events and by each
// upstream call's timeout for batches).
#ifndef ONSYNC_SERVER_SERVICE_JOB_RUNNER_H_
#define ONSYNC_SERVER_SERVICE_JOB_RUNNER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "onsync/v1/config.pb.h"
#include "server/engine/sync_engine.h"
#include "server/jobs/job_store.h"
#include "server/jobs/worker_pool.h"
#include "server/service/upstreams.h"

namespace onsync::server {

using ProfileMap = std::map<std::string, std::shared_ptr<const onsync::v1::Profile>, std::less<>>;

class SyncJobRunner final : public jobs::JobRunner {
 public:
  struct Options {
    absl::Duration attempt_timeout = absl::Seconds(60);
    int batch_parallelism = 4;
  };

  // Every argument must outlive the runner.
  SyncJobRunner(const ProfileMap& profiles, const UpstreamPool* upstreams,
                engine::SyncEngine& engine, jobs::JobStore& store, Options options);

  absl::StatusOr<onsync::v1::SyncResult> RunAttempt(const onsync::v1::Job& job,
                                                    jobs::AttemptContext& context) override;

 private:
  absl::StatusOr<onsync::v1::SyncResult> RunEvent(
      const onsync::v1::Job& job, const std::shared_ptr<const onsync::v1::Profile>& profile,
      engine::Upstreams upstreams);
  absl::StatusOr<onsync::v1::SyncResult> RunBatchJob(
      const onsync::v1::Job& job, const std::shared_ptr<const onsync::v1::Profile>& profile,
      engine::Upstreams upstreams, jobs::AttemptContext& context);

  const ProfileMap& profiles_;
  const UpstreamPool* const upstreams_;
  engine::SyncEngine& engine_;
  jobs::JobStore& store_;
  const Options options_;
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_JOB_RUNNER_H_
