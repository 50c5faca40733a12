// onsync.v1.SyncService on the gRPC callback API.
//
// SyncRecord runs the sync engine: the profile by name (NOT_FOUND when unknown) or inline
// (validated like a configured one: INVALID_ARGUMENT naming the key path); the trigger as given,
// or read from `trigger.body` at the profile's trigger paths; the mode as requested, else the
// profile's (an ASYNC profile needs EnqueueSync: FAILED_PRECONDITION); the configured upstreams,
// or the caller's `connections` as `server.inline_sync` allows. Every upstream call is bounded by
// the call's deadline (or `upstream.request_timeout` when it has none). Syncs beyond
// `server.max_in_flight_syncs` are refused at once with UNAVAILABLE and a 1 s retry hint
// (google.rpc.RetryInfo; 503 + Retry-After through the gateway). One log line per sync.
// An ASYNC profile's SyncRecord (mode unspecified) stores a WRITE_BACK job and answers with it.
// EnqueueSync stores an event job (deduplicated by request id, else by profile + record +
// payload hash within `jobs.dedupe_window`); StartBatchSync a batch run (one per profile);
// GetJob, ListJobs, WatchJob, RetryJob and CancelJob read and steer them (server/jobs/); profiles
// with a `schedule` get incremental batch runs (jobs::BatchScheduler). Without
// a job store those answer FAILED_PRECONDITION. ListProfiles answers from the configuration.
//
// Thread safety: handlers may run concurrently; the configuration is immutable after
// construction. CancelUpstreams may be called from any thread.
#ifndef ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_
#define ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "onsync/v1/config.pb.h"
#include "onsync/v1/sync_service.grpc.pb.h"
#include "server/engine/sync_engine.h"
#include "server/engine/ttl_cache.h"
#include "server/jobs/batch_scheduler.h"
#include "server/jobs/job_store.h"
#include "server/jobs/worker_pool.h"
#include "server/service/job_runner.h"
#include "server/service/job_watchers.h"
#include "server/service/upstreams.h"

namespace onsync::server {

class SyncServiceImpl final : public onsync::v1::SyncService::CallbackService {
 public:
  // `upstreams` null: every sync fails with FAILED_PRECONDITION (no connections). `store` null:
  // the job methods fail with FAILED_PRECONDITION; otherwise the workers start at once.
  // `create_lock` (replicas sharing PostgreSQL): creates of referenced records are single across
  // the processes sharing it (engine::ReferenceResolver).
  SyncServiceImpl(std::shared_ptr<const onsync::v1::Config> config,
                  std::unique_ptr<UpstreamPool> upstreams,
                  std::unique_ptr<jobs::JobStore> store = nullptr,
                  std::shared_ptr<engine::CreateLock> create_lock = nullptr);
  ~SyncServiceImpl() override;

  // Stops the job workers (running attempts get `grace`) and the WatchJob streams.
  void StopWorkers(absl::Duration grace);

  // Cancels every upstream request in flight, so that pending syncs finish (with CANCELLED).
  void CancelUpstreams();

  // For metrics (server_metrics.h): the engine's counters, the retry policy's (nullopt without
  // upstreams) and the job store (null without one).
  engine::EngineStats engine_stats() const { return engine_.stats(); }
  std::optional<clients::RetryStats> retry_stats() const {
    if (upstreams_ == nullptr) return std::nullopt;
    return upstreams_->retry_stats();
  }
  jobs::JobStore* job_store() const { return store_.get(); }

  grpc::ServerUnaryReactor* SyncRecord(grpc::CallbackServerContext* context,
                                       const onsync::v1::SyncRecordRequest* request,
                                       onsync::v1::SyncRecordResponse* response) override;
  grpc::ServerUnaryReactor* EnqueueSync(grpc::CallbackServerContext* context,
                                        const onsync::v1::EnqueueSyncRequest* request,
                                        onsync::v1::EnqueueSyncResponse* response) override;
  grpc::ServerUnaryReactor* StartBatchSync(grpc::CallbackServerContext* context,
                                           const onsync::v1::StartBatchSyncRequest* request,
                                           onsync::v1::StartBatchSyncResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const onsync::v1::GetJobRequest* request,
                                   onsync::v1::GetJobResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const onsync::v1::ListJobsRequest* request,
                                     onsync::v1::ListJobsResponse* response) override;
  grpc::ServerWriteReactor<onsync::v1::WatchJobResponse>* WatchJob(
      grpc::CallbackServerContext* context, const onsync::v1::WatchJobRequest* request) override;
  grpc::ServerUnaryReactor* RetryJob(grpc::CallbackServerContext* context,
                                     const onsync::v1::RetryJobRequest* request,
                                     onsync::v1::RetryJobResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const onsync::v1::CancelJobRequest* request,
                                      onsync::v1::CancelJobResponse* response) override;
  grpc::ServerUnaryReactor* ListProfiles(grpc::CallbackServerContext* context,
                                         const onsync::v1::ListProfilesRequest* request,
                                         onsync::v1::ListProfilesResponse* response) override;

 private:
  struct Prepared;
  // Who asked and in which trace: the request id, this server's traceparent, the log context.
  struct CallTrace;
  static CallTrace TraceCall(const grpc::CallbackServerContext& context,
                             std::string_view request_id);
  // Everything SyncRecord needs before the engine runs, or the error to answer.
  absl::StatusOr<Prepared> Prepare(const onsync::v1::SyncRecordRequest& request) const;
  absl::StatusOr<std::shared_ptr<const onsync::v1::Profile>> FindProfile(
      std::string_view name) const;
  absl::StatusOr<jobs::JobStore*> Store() const;
  // Stores an event job (dedupe key: the request id, else profile + record + payload hash).
  absl::StatusOr<jobs::EnqueueResult> EnqueueEvent(std::string_view profile,
                                                   onsync::v1::Trigger trigger,
                                                   onsync::v1::SyncMode mode,
                                                   const CallTrace& trace);
  // `trace` is null for a scheduled run.
  absl::StatusOr<jobs::EnqueueResult> EnqueueBatch(std::string_view profile,
                                                   const onsync::v1::BatchSpec& batch,
                                                   onsync::v1::SyncMode mode,
                                                   const CallTrace* trace);

  const std::shared_ptr<const onsync::v1::Config> config_;
  // Built once: the configuration does not change while the server runs.
  const onsync::v1::ListProfilesResponse profiles_;
  ProfileMap by_name_;
  const std::unique_ptr<UpstreamPool> upstreams_;
  // Inline profiles already validated, by their deterministic serialization: the PoC's `/sync`
  // sends the same profile with every event, and validating it is most of a warm sync's CPU.
  mutable engine::TtlCache<std::shared_ptr<const onsync::v1::Profile>> inline_profiles_{
      clients::RealClock(), absl::Minutes(10), 256};
  engine::SyncEngine engine_;
  const int max_in_flight_;
  std::atomic<int> in_flight_{0};
  const std::unique_ptr<jobs::JobStore> store_;
  std::unique_ptr<SyncJobRunner> runner_;
  std::unique_ptr<jobs::WorkerPool> workers_;
  std::unique_ptr<JobWatchers> watcher_;
  std::unique_ptr<jobs::BatchScheduler> scheduler_;
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_
