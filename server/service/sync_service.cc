#include "server/service/sync_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_grpc.h"

namespace onsync::server {
namespace {

using onsync::v1::Config;
using onsync::v1::ListProfilesResponse;

ListProfilesResponse BuildProfiles(const Config& config) {
  ListProfilesResponse response;
  for (const auto& [name, profile] : config.profiles()) {
    auto* info = response.add_profiles();
    info->set_name(name);
    *info->mutable_profile() = profile;
    // Caller-auth settings are gateway secrets' references: not for listing.
    info->mutable_profile()->clear_auth();
  }
  std::sort(response.mutable_profiles()->begin(), response.mutable_profiles()->end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return response;
}

grpc::Status Unimplemented(absl::string_view method) {
  return ToGrpcStatus(absl::UnimplementedError(
      absl::StrCat("onsync.v1.SyncService/", method, " is not implemented in this build")));
}

grpc::ServerUnaryReactor* FinishUnimplemented(grpc::CallbackServerContext* context,
                                              absl::string_view method) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Unimplemented(method));
  return reactor;
}

// A server stream that ends at once with UNIMPLEMENTED.
template <typename Response>
class UnimplementedWriter final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit UnimplementedWriter(absl::string_view method) { this->Finish(Unimplemented(method)); }
  void OnDone() override { delete this; }
};

}  // namespace

SyncServiceImpl::SyncServiceImpl(std::shared_ptr<const Config> config)
    : config_(std::move(config)), profiles_(BuildProfiles(*config_)) {}

grpc::ServerUnaryReactor* SyncServiceImpl::SyncRecord(grpc::CallbackServerContext* context,
                                                      const onsync::v1::SyncRecordRequest*,
                                                      onsync::v1::SyncRecordResponse*) {
  return FinishUnimplemented(context, "SyncRecord");
}

grpc::ServerUnaryReactor* SyncServiceImpl::EnqueueSync(grpc::CallbackServerContext* context,
                                                       const onsync::v1::EnqueueSyncRequest*,
                                                       onsync::v1::EnqueueSyncResponse*) {
  return FinishUnimplemented(context, "EnqueueSync");
}

grpc::ServerUnaryReactor* SyncServiceImpl::StartBatchSync(grpc::CallbackServerContext* context,
                                                          const onsync::v1::StartBatchSyncRequest*,
                                                          onsync::v1::StartBatchSyncResponse*) {
  return FinishUnimplemented(context, "StartBatchSync");
}

grpc::ServerUnaryReactor* SyncServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                  const onsync::v1::GetJobRequest*,
                                                  onsync::v1::GetJobResponse*) {
  return FinishUnimplemented(context, "GetJob");
}

grpc::ServerUnaryReactor* SyncServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                    const onsync::v1::ListJobsRequest*,
                                                    onsync::v1::ListJobsResponse*) {
  return FinishUnimplemented(context, "ListJobs");
}

grpc::ServerWriteReactor<onsync::v1::WatchJobResponse>* SyncServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const onsync::v1::WatchJobRequest*) {
  return new UnimplementedWriter<onsync::v1::WatchJobResponse>("WatchJob");
}

grpc::ServerUnaryReactor* SyncServiceImpl::RetryJob(grpc::CallbackServerContext* context,
                                                    const onsync::v1::RetryJobRequest*,
                                                    onsync::v1::RetryJobResponse*) {
  return FinishUnimplemented(context, "RetryJob");
}

grpc::ServerUnaryReactor* SyncServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                     const onsync::v1::CancelJobRequest*,
                                                     onsync::v1::CancelJobResponse*) {
  return FinishUnimplemented(context, "CancelJob");
}

grpc::ServerUnaryReactor* SyncServiceImpl::ListProfiles(
    grpc::CallbackServerContext* context, const onsync::v1::ListProfilesRequest*,
    onsync::v1::ListProfilesResponse* response) {
  *response = profiles_;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace onsync::server
