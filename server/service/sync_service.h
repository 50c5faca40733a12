// onsync.v1.SyncService on the gRPC callback API.
//
// ListProfiles answers from the loaded configuration. The other methods belong to later work
// (engine, jobs) and answer UNIMPLEMENTED with a message naming the method.
//
// Thread safety: handlers may run concurrently; the configuration is immutable after
// construction.
#ifndef ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_
#define ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_

#include <memory>

#include "onsync/v1/config.pb.h"
#include "onsync/v1/sync_service.grpc.pb.h"

namespace onsync::server {

class SyncServiceImpl final : public onsync::v1::SyncService::CallbackService {
 public:
  explicit SyncServiceImpl(std::shared_ptr<const onsync::v1::Config> config);

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
  const std::shared_ptr<const onsync::v1::Config> config_;
  // Built once: the configuration does not change while the server runs.
  const onsync::v1::ListProfilesResponse profiles_;
};

}  // namespace onsync::server

#endif  // ONSYNC_SERVER_SERVICE_SYNC_SERVICE_H_
