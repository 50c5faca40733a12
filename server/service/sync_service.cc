#include "server/service/sync_service.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/http/redact.h"
#include "common/logging.h"
#include "common/status_grpc.h"
#include "common/string_view.h"
#include "server/config/config_loader.h"
#include "server/config/durations.h"
#include "server/engine/trigger.h"
#include "spdlog/spdlog.h"

namespace onsync::server {
namespace {

using onsync::v1::Config;
using onsync::v1::ListProfilesResponse;

constexpr int kDefaultMaxInFlight = 256;
// Upstream calls end this much before the call's deadline, so that the sync answers with its
// own DEADLINE_EXCEEDED (naming what was slow) before gRPC cancels the call.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(20);

engine::EngineOptions EngineOptionsFrom(const Config& config) {
  engine::EngineOptions options;
  const v1::ServerConfig& server = config.server();
  options.cache.ttl =
      config::DurationOr(server.has_cache_ttl(), server.cache_ttl(), options.cache.ttl);
  if (server.cache_entries() > 0) options.cache.max_entries = server.cache_entries();
  return options;
}

absl::StatusOr<v1::SyncMode> ModeFor(v1::SyncMode requested, const v1::Profile& profile,
                                     absl::string_view profile_name) {
  if (requested != v1::SYNC_MODE_UNSPECIFIED) return requested;
  switch (profile.mode()) {
    case v1::PROFILE_MODE_WRITE_BACK:
      return v1::SYNC_MODE_WRITE_BACK;
    case v1::PROFILE_MODE_ASYNC:
      return absl::FailedPreconditionError(absl::StrCat(
          "profile ", profile_name, " is async: use EnqueueSync, or give SyncRecord a mode"));
    default:
      return v1::SYNC_MODE_RESPOND;
  }
}

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

struct SyncServiceImpl::Prepared {
  std::shared_ptr<const v1::Profile> profile;
  std::string profile_name;
  v1::Trigger trigger;
  v1::SyncMode mode = v1::SYNC_MODE_UNSPECIFIED;
  engine::Upstreams upstreams;
};

SyncServiceImpl::SyncServiceImpl(std::shared_ptr<const Config> config,
                                 std::unique_ptr<UpstreamPool> upstreams)
    : config_(std::move(config)),
      profiles_(BuildProfiles(*config_)),
      upstreams_(std::move(upstreams)),
      engine_(clients::RealClock(), EngineOptionsFrom(*config_)),
      max_in_flight_(config_->server().max_in_flight_syncs() > 0
                         ? config_->server().max_in_flight_syncs()
                         : kDefaultMaxInFlight) {
  for (const auto& [name, profile] : config_->profiles()) {
    by_name_.emplace(name, std::make_shared<const v1::Profile>(profile));
  }
}

SyncServiceImpl::~SyncServiceImpl() { CancelUpstreams(); }

void SyncServiceImpl::CancelUpstreams() {
  if (upstreams_ != nullptr) upstreams_->Shutdown();
}

absl::StatusOr<SyncServiceImpl::Prepared> SyncServiceImpl::Prepare(
    const v1::SyncRecordRequest& request) const {
  Prepared prepared;
  switch (request.profile_source_case()) {
    case v1::SyncRecordRequest::kProfile: {
      auto it = by_name_.find(request.profile());
      if (it == by_name_.end()) {
        std::vector<std::string> names;
        for (const auto& [name, profile] : by_name_) names.push_back(name);
        return absl::NotFoundError(absl::StrCat(
            "no profile named \"", ToAbsl(std::string_view(request.profile()).substr(0, 64)),
            "\" (configured: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
      }
      prepared.profile = it->second;
      prepared.profile_name = it->first;
      break;
    }
    case v1::SyncRecordRequest::kInlineProfile: {
      if (absl::Status valid = config::ValidateProfile("inline_profile", request.inline_profile());
          !valid.ok()) {
        return valid;
      }
      prepared.profile = std::make_shared<const v1::Profile>(request.inline_profile());
      prepared.profile_name = "(inline)";
      break;
    }
    default:
      return absl::InvalidArgumentError("profile or inline_profile is required");
  }

  prepared.trigger = request.trigger();
  if (prepared.trigger.key().empty()) {
    if (!request.trigger().has_body()) {
      return absl::InvalidArgumentError("trigger.key (or trigger.body) is required");
    }
    absl::StatusOr<v1::Trigger> extracted =
        engine::ExtractTrigger(prepared.profile->trigger(), request.trigger().body());
    if (!extracted.ok()) return extracted.status();
    prepared.trigger = *std::move(extracted);
  }
  prepared.trigger.clear_body();

  absl::StatusOr<v1::SyncMode> mode =
      ModeFor(request.mode(), *prepared.profile, prepared.profile_name);
  if (!mode.ok()) return mode.status();
  prepared.mode = *mode;

  if (upstreams_ == nullptr) {
    return absl::FailedPreconditionError("the server has no upstream connections");
  }
  absl::StatusOr<engine::Upstreams> upstreams = request.has_connections()
                                                    ? upstreams_->ForCaller(request.connections())
                                                    : upstreams_->Configured();
  if (!upstreams.ok()) return upstreams.status();
  prepared.upstreams = *std::move(upstreams);
  return prepared;
}

grpc::ServerUnaryReactor* SyncServiceImpl::SyncRecord(grpc::CallbackServerContext* context,
                                                      const onsync::v1::SyncRecordRequest* request,
                                                      onsync::v1::SyncRecordResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time start = absl::Now();
  absl::Time deadline = absl::FromChrono(context->deadline());
  if (deadline - start > absl::Hours(24 * 365)) {
    deadline = start + (upstreams_ != nullptr ? upstreams_->default_timeout() : absl::Seconds(20));
  } else {
    deadline -= kDeadlineMargin;
  }
  absl::StatusOr<Prepared> prepared = Prepare(*request);
  if (!prepared.ok()) {
    spdlog::info("sync refused: {}", prepared.status());
    reactor->Finish(ToGrpcStatus(prepared.status()));
    return reactor;
  }
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= max_in_flight_) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "more than ", max_in_flight_, " syncs in progress (server.max_in_flight_syncs); retry"))));
    return reactor;
  }
  engine_.Run(
      prepared->profile, std::move(prepared->upstreams), prepared->trigger, prepared->mode,
      deadline,
      [this, reactor, response, start, profile = prepared->profile_name,
       key = prepared->trigger.key(),
       mode = prepared->mode](absl::StatusOr<v1::SyncResult> result) {
        const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
        const std::string shown_key = clients::Redactor::Global().Redact(key.substr(0, 200));
        if (result.ok()) {
          spdlog::info(
              "sync ok: profile={} key=\"{}\" mode={} ms={} created={} changes={} written={} "
              "warnings={}",
              profile, shown_key, v1::SyncMode_Name(mode), ms, result->created_size(),
              result->changes_size(), result->written(), result->warnings_size());
          *response->mutable_result() = *std::move(result);
        } else {
          spdlog::warn("sync failed: profile={} key=\"{}\" mode={} ms={}: {}", profile, shown_key,
                       v1::SyncMode_Name(mode), ms, result.status());
        }
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
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
