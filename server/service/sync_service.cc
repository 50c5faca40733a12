#include "server/service/sync_service.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/http/redact.h"
#include "common/logging.h"
#include "common/retry_after.h"
#include "common/status_grpc.h"
#include "common/string_view.h"
#include "common/trace_context.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "server/config/config_loader.h"
#include "server/config/durations.h"
#include "server/engine/trigger.h"
#include "spdlog/spdlog.h"

namespace onsync::server {
namespace {

using onsync::v1::Config;
using onsync::v1::ListProfilesResponse;

constexpr int kDefaultMaxInFlight = 256;
// What a sync refused at capacity is told to wait: syncs take tens of milliseconds, so a slot is
// soon free; one second (the smallest Retry-After) spreads a burst's retries.
constexpr absl::Duration kAtCapacityRetryAfter = absl::Seconds(1);
// Upstream calls end this much before the call's deadline, so that the sync answers with its
// own DEADLINE_EXCEEDED (naming what was slow) before gRPC cancels the call.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(20);
// A caller's request id is logged up to this length.
constexpr size_t kMaxLoggedRequestId = 128;

engine::EngineOptions EngineOptionsFrom(const Config& config,
                                        std::shared_ptr<engine::CreateLock> create_lock) {
  engine::EngineOptions options;
  options.create_lock = std::move(create_lock);
  const v1::ServerConfig& server = config.server();
  options.cache.ttl =
      config::DurationOr(server.has_cache_ttl(), server.cache_ttl(), options.cache.ttl);
  if (server.cache_entries() > 0) options.cache.max_entries = server.cache_entries();
  return options;
}

// The mode a SyncRecord runs; UNSPECIFIED for an ASYNC profile, whose sync is enqueued.
v1::SyncMode ModeFor(v1::SyncMode requested, const v1::Profile& profile) {
  if (requested != v1::SYNC_MODE_UNSPECIFIED) return requested;
  switch (profile.mode()) {
    case v1::PROFILE_MODE_WRITE_BACK:
      return v1::SYNC_MODE_WRITE_BACK;
    case v1::PROFILE_MODE_ASYNC:
      return v1::SYNC_MODE_UNSPECIFIED;
    default:
      return v1::SYNC_MODE_RESPOND;
  }
}

// Profile + record + payload: the same event delivered twice has the same key.
std::string EventDedupeKey(std::string_view profile, const v1::Trigger& trigger) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    trigger.SerializeToCodedStream(&coded);
  }
  uint64_t hash = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : bytes) hash = (hash ^ c) * 1099511628211ull;
  return absl::StrFormat("event:%s:%d:%016x", ToAbsl(profile), trigger.record_id(), hash);
}

jobs::WorkerOptions WorkerOptionsFrom(const v1::JobsConfig& jobs) {
  jobs::WorkerOptions options;
  if (jobs.workers() > 0) options.workers = jobs.workers();
  options.lease = config::DurationOr(jobs.has_lease(), jobs.lease(), options.lease);
  options.initial_backoff = config::DurationOr(jobs.has_initial_backoff(), jobs.initial_backoff(),
                                               options.initial_backoff);
  options.max_backoff =
      config::DurationOr(jobs.has_max_backoff(), jobs.max_backoff(), options.max_backoff);
  return options;
}

// Finishes a unary call with `status` (the response was filled when it is OK).
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
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

}  // namespace

struct SyncServiceImpl::CallTrace {
  // The request's own request_id (the job idempotency key); may be empty.
  std::string request_id;
  // This server's hop of the caller's trace, or of a new trace.
  std::string traceparent;
  // request_id (else the caller's x-request-id) and the trace id.
  logging::LogContext log = {};
};

SyncServiceImpl::CallTrace SyncServiceImpl::TraceCall(const grpc::CallbackServerContext& context,
                                                      std::string_view request_id) {
  const auto& metadata = context.client_metadata();
  const auto Metadata = [&metadata](const char* name) -> std::optional<std::string_view> {
    const auto found = metadata.find(name);
    if (found == metadata.end()) return std::nullopt;
    return std::string_view(found->second.data(), found->second.size());
  };
  const TraceContext trace = ContinueOrStartTrace(Metadata("traceparent"));
  CallTrace call{.request_id = std::string(request_id), .traceparent = trace.ToTraceparent()};
  std::string_view shown_id = request_id;
  if (shown_id.empty()) shown_id = Metadata("x-request-id").value_or("");
  call.log.request_id = std::string(shown_id.substr(0, kMaxLoggedRequestId));
  call.log.trace_id = trace.trace_id;
  return call;
}

struct SyncServiceImpl::Prepared {
  std::shared_ptr<const v1::Profile> profile;
  std::string profile_name;
  v1::Trigger trigger;
  // UNSPECIFIED: an ASYNC profile's event, to enqueue.
  v1::SyncMode mode = v1::SYNC_MODE_UNSPECIFIED;
  engine::Upstreams upstreams;
};

SyncServiceImpl::SyncServiceImpl(std::shared_ptr<const Config> config,
                                 std::unique_ptr<UpstreamPool> upstreams,
                                 std::unique_ptr<jobs::JobStore> store,
                                 std::shared_ptr<engine::CreateLock> create_lock)
    : config_(std::move(config)),
      profiles_(BuildProfiles(*config_)),
      upstreams_(std::move(upstreams)),
      engine_(clients::RealClock(), EngineOptionsFrom(*config_, std::move(create_lock))),
      max_in_flight_(config_->server().max_in_flight_syncs() > 0
                         ? config_->server().max_in_flight_syncs()
                         : kDefaultMaxInFlight),
      store_(std::move(store)) {
  for (const auto& [name, profile] : config_->profiles()) {
    by_name_.emplace(name, std::make_shared<const v1::Profile>(profile));
  }
  if (store_ != nullptr) {
    const v1::JobsConfig& jobs = config_->jobs();
    runner_ = std::make_unique<SyncJobRunner>(
        by_name_, upstreams_.get(), engine_, *store_,
        SyncJobRunner::Options{.batch_parallelism =
                                   jobs.batch_parallelism() > 0 ? jobs.batch_parallelism() : 4});
    workers_ = std::make_unique<jobs::WorkerPool>(*store_, *runner_, clients::RealClock(),
                                                  WorkerOptionsFrom(jobs));
    workers_->Start();
    watcher_ = std::make_unique<JobWatchers>(*store_);
    std::vector<jobs::BatchScheduler::Schedule> schedules;
    for (const auto& [name, profile] : by_name_) {
      if (profile->has_schedule()) {
        schedules.push_back({name, config::ToDuration(profile->schedule().every())});
      }
    }
    scheduler_ = std::make_unique<jobs::BatchScheduler>(
        std::move(schedules), [this](const std::string& profile) {
          v1::BatchSpec incremental;
          incremental.set_incremental(true);
          return EnqueueBatch(profile, incremental, v1::SYNC_MODE_WRITE_BACK, nullptr).status();
        });
    scheduler_->Start();
  }
}

SyncServiceImpl::~SyncServiceImpl() {
  StopWorkers(absl::ZeroDuration());
  CancelUpstreams();
}

void SyncServiceImpl::StopWorkers(absl::Duration grace) {
  if (scheduler_ != nullptr) scheduler_->Stop();
  if (watcher_ != nullptr) watcher_->Stop();
  if (workers_ != nullptr) workers_->Stop(grace);
}

absl::StatusOr<jobs::JobStore*> SyncServiceImpl::Store() const {
  if (store_ == nullptr) return absl::FailedPreconditionError("this server has no job store");
  return store_.get();
}

absl::StatusOr<std::shared_ptr<const v1::Profile>> SyncServiceImpl::FindProfile(
    std::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) {
    std::vector<std::string> names;
    for (const auto& [configured, profile] : by_name_) names.push_back(configured);
    return absl::NotFoundError(
        absl::StrCat("no profile named \"", ToAbsl(name.substr(0, 64)),
                     "\" (configured: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
  }
  return it->second;
}

absl::StatusOr<jobs::EnqueueResult> SyncServiceImpl::EnqueueEvent(std::string_view profile,
                                                                  v1::Trigger trigger,
                                                                  v1::SyncMode mode,
                                                                  const CallTrace& trace) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return store.status();
  const v1::JobsConfig& config = config_->jobs();
  jobs::NewJob job;
  job.job.set_profile(std::string(profile));
  job.job.set_kind(v1::JOB_KIND_EVENT);
  job.job.set_mode(mode);
  job.job.set_max_attempts(config.max_attempts() > 0 ? config.max_attempts() : 8);
  job.job.set_traceparent(trace.traceparent);
  job.dedupe_key = trace.request_id.empty() ? EventDedupeKey(profile, trigger)
                                            : absl::StrCat("request:", trace.request_id);
  trigger.clear_body();
  *job.job.mutable_trigger() = std::move(trigger);
  job.dedupe_window =
      config::DurationOr(config.has_dedupe_window(), config.dedupe_window(), absl::Hours(24));
  absl::StatusOr<jobs::EnqueueResult> enqueued = (*store)->Enqueue(std::move(job));
  if (enqueued.ok() && !enqueued->deduplicated) workers_->Wake();
  return enqueued;
}

void SyncServiceImpl::CancelUpstreams() {
  if (upstreams_ != nullptr) upstreams_->Shutdown();
}

absl::StatusOr<SyncServiceImpl::Prepared> SyncServiceImpl::Prepare(
    const v1::SyncRecordRequest& request) const {
  Prepared prepared;
  switch (request.profile_source_case()) {
    case v1::SyncRecordRequest::kProfile: {
      absl::StatusOr<std::shared_ptr<const v1::Profile>> profile = FindProfile(request.profile());
      if (!profile.ok()) return profile.status();
      prepared.profile = *std::move(profile);
      prepared.profile_name = request.profile();
      break;
    }
    case v1::SyncRecordRequest::kInlineProfile: {
      std::string key;
      {
        google::protobuf::io::StringOutputStream stream(&key);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.SetSerializationDeterministic(true);
        request.inline_profile().SerializeToCodedStream(&coded);
      }
      if (std::optional<std::shared_ptr<const v1::Profile>> known = inline_profiles_.Get(key)) {
        prepared.profile = *std::move(known);
      } else {
        if (absl::Status valid =
                config::ValidateProfile("inline_profile", request.inline_profile());
            !valid.ok()) {
          return valid;
        }
        prepared.profile = std::make_shared<const v1::Profile>(request.inline_profile());
        inline_profiles_.Put(key, prepared.profile);
      }
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
  prepared.mode = ModeFor(request.mode(), *prepared.profile);
  if (prepared.mode == v1::SYNC_MODE_UNSPECIFIED) {
    if (request.has_inline_profile()) {
      return absl::InvalidArgumentError("an inline profile cannot be async: jobs name a profile");
    }
    return prepared;  // Enqueued: the job keeps the trigger (body included, for its dedupe key).
  }
  prepared.trigger.clear_body();

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
  const CallTrace trace = TraceCall(*context, request->request_id());
  absl::StatusOr<Prepared> prepared = Prepare(*request);
  if (!prepared.ok()) {
    logging::Log(trace.log, logging::Level::kInfo, "sync refused: {}", prepared.status());
    reactor->Finish(ToGrpcStatus(prepared.status()));
    return reactor;
  }
  if (prepared->mode == v1::SYNC_MODE_UNSPECIFIED) {
    absl::StatusOr<jobs::EnqueueResult> enqueued = EnqueueEvent(
        prepared->profile_name, std::move(prepared->trigger), v1::SYNC_MODE_WRITE_BACK, trace);
    if (enqueued.ok()) {
      *response->mutable_job() = std::move(enqueued->job);
      response->set_deduplicated(enqueued->deduplicated);
    }
    reactor->Finish(ToGrpcStatus(enqueued.status()));
    return reactor;
  }
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) >= max_in_flight_) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    reactor->Finish(ToGrpcStatus(WithRetryAfter(
        absl::UnavailableError(absl::StrCat("at capacity: ", max_in_flight_,
                                            " syncs in progress (server.max_in_flight_syncs); "
                                            "retry later")),
        kAtCapacityRetryAfter)));
    return reactor;
  }
  engine_.Run(
      prepared->profile, std::move(prepared->upstreams), prepared->trigger, prepared->mode,
      clients::CallOptions(deadline, trace.traceparent),
      [this, reactor, response, start, log = trace.log, profile = prepared->profile_name,
       key = prepared->trigger.key(),
       mode = prepared->mode](absl::StatusOr<v1::SyncResult> result) {
        const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
        const std::string shown_key = clients::Redactor::Global().Redact(key.substr(0, 200));
        if (result.ok()) {
          logging::Log(
              log, logging::Level::kInfo,
              "sync ok: profile={} key=\"{}\" mode={} ms={} created={} changes={} written={} "
              "warnings={}",
              profile, shown_key, v1::SyncMode_Name(mode), ms, result->created_size(),
              result->changes_size(), result->written(), result->warnings_size());
          *response->mutable_result() = *std::move(result);
        } else {
          logging::Log(log, logging::Level::kWarn,
                       "sync failed: profile={} key=\"{}\" mode={} ms={}: {}", profile, shown_key,
                       v1::SyncMode_Name(mode), ms, result.status());
        }
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SyncServiceImpl::EnqueueSync(
    grpc::CallbackServerContext* context, const onsync::v1::EnqueueSyncRequest* request,
    onsync::v1::EnqueueSyncResponse* response) {
  absl::StatusOr<std::shared_ptr<const v1::Profile>> profile = FindProfile(request->profile());
  if (!profile.ok()) return Answer(context, profile.status());
  v1::Trigger trigger = request->trigger();
  if (trigger.key().empty()) {
    if (!trigger.has_body()) {
      return Answer(context,
                    absl::InvalidArgumentError("trigger.key (or trigger.body) is required"));
    }
    absl::StatusOr<v1::Trigger> extracted =
        engine::ExtractTrigger((*profile)->trigger(), trigger.body());
    if (!extracted.ok()) return Answer(context, extracted.status());
    *extracted->mutable_body() = trigger.body();
    trigger = *std::move(extracted);
  }
  const v1::SyncMode mode =
      request->mode() == v1::SYNC_MODE_UNSPECIFIED ? v1::SYNC_MODE_WRITE_BACK : request->mode();
  if (mode == v1::SYNC_MODE_RESPOND) {
    return Answer(context, absl::InvalidArgumentError(
                               "a job has nobody to respond to: use WRITE_BACK or DRY_RUN"));
  }
  if ((*profile)->target().app_id() == 0 || (*profile)->target().key_field_id() == 0) {
    return Answer(context, absl::FailedPreconditionError(absl::StrCat(
                               "profile ", request->profile(), " has no target to write to")));
  }
  absl::StatusOr<jobs::EnqueueResult> enqueued = EnqueueEvent(
      request->profile(), std::move(trigger), mode, TraceCall(*context, request->request_id()));
  if (enqueued.ok()) {
    *response->mutable_job() = std::move(enqueued->job);
    response->set_deduplicated(enqueued->deduplicated);
  }
  return Answer(context, enqueued.status());
}

grpc::ServerUnaryReactor* SyncServiceImpl::StartBatchSync(
    grpc::CallbackServerContext* context, const onsync::v1::StartBatchSyncRequest* request,
    onsync::v1::StartBatchSyncResponse* response) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return Answer(context, store.status());
  absl::StatusOr<std::shared_ptr<const v1::Profile>> profile = FindProfile(request->profile());
  if (!profile.ok()) return Answer(context, profile.status());
  if ((*profile)->target().app_id() == 0 || (*profile)->target().key_field_id() == 0) {
    return Answer(context, absl::FailedPreconditionError(absl::StrCat(
                               "profile ", request->profile(), " has no target to write to")));
  }
  if (request->batch().range_case() == v1::BatchSpec::RANGE_NOT_SET) {
    return Answer(context,
                  absl::InvalidArgumentError("batch is required: full, since or incremental"));
  }
  const v1::SyncMode mode =
      request->mode() == v1::SYNC_MODE_UNSPECIFIED ? v1::SYNC_MODE_WRITE_BACK : request->mode();
  if (mode == v1::SYNC_MODE_RESPOND) {
    return Answer(context, absl::InvalidArgumentError("a batch run is WRITE_BACK or DRY_RUN"));
  }
  const CallTrace trace = TraceCall(*context, request->request_id());
  absl::StatusOr<jobs::EnqueueResult> enqueued =
      EnqueueBatch(request->profile(), request->batch(), mode, &trace);
  if (enqueued.ok()) *response->mutable_job() = std::move(enqueued->job);
  return Answer(context, enqueued.status());
}

absl::StatusOr<jobs::EnqueueResult> SyncServiceImpl::EnqueueBatch(std::string_view profile,
                                                                  const v1::BatchSpec& batch,
                                                                  v1::SyncMode mode,
                                                                  const CallTrace* trace) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return store.status();
  jobs::NewJob job;
  job.job.set_profile(std::string(profile));
  job.job.set_kind(v1::JOB_KIND_BATCH);
  job.job.set_mode(mode);
  *job.job.mutable_batch() = batch;
  job.job.set_max_attempts(config_->jobs().max_attempts() > 0 ? config_->jobs().max_attempts() : 8);
  if (trace != nullptr) {
    job.job.set_traceparent(trace->traceparent);
    if (!trace->request_id.empty()) job.dedupe_key = absl::StrCat("request:", trace->request_id);
  }
  absl::StatusOr<jobs::EnqueueResult> enqueued = (*store)->Enqueue(std::move(job));
  if (enqueued.ok() && !enqueued->deduplicated) workers_->Wake();
  return enqueued;
}

grpc::ServerUnaryReactor* SyncServiceImpl::GetJob(grpc::CallbackServerContext* context,
                                                  const onsync::v1::GetJobRequest* request,
                                                  onsync::v1::GetJobResponse* response) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return Answer(context, store.status());
  absl::StatusOr<v1::Job> job = (*store)->Get(request->job_id());
  if (job.ok()) *response->mutable_job() = *std::move(job);
  return Answer(context, job.status());
}

grpc::ServerUnaryReactor* SyncServiceImpl::ListJobs(grpc::CallbackServerContext* context,
                                                    const onsync::v1::ListJobsRequest* request,
                                                    onsync::v1::ListJobsResponse* response) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return Answer(context, store.status());
  jobs::ListQuery query;
  for (int state : request->states()) query.states.push_back(static_cast<v1::JobState>(state));
  query.profile = request->profile();
  if (request->has_create_time_after()) {
    query.created_after = absl::FromUnixSeconds(request->create_time_after().seconds()) +
                          absl::Nanoseconds(request->create_time_after().nanos());
  }
  if (request->has_create_time_before()) {
    query.created_before = absl::FromUnixSeconds(request->create_time_before().seconds()) +
                           absl::Nanoseconds(request->create_time_before().nanos());
  }
  query.page_size = request->page_size() == 0 ? 50 : request->page_size();
  query.page_token = request->page_token();
  absl::StatusOr<jobs::ListPage> page = (*store)->List(query);
  if (page.ok()) {
    for (v1::Job& job : page->jobs) *response->add_jobs() = std::move(job);
    response->set_next_page_token(std::move(page->next_page_token));
  }
  return Answer(context, page.status());
}

grpc::ServerWriteReactor<onsync::v1::WatchJobResponse>* SyncServiceImpl::WatchJob(
    grpc::CallbackServerContext*, const onsync::v1::WatchJobRequest* request) {
  if (watcher_ == nullptr) {
    return JobWatchers::Refuse(absl::FailedPreconditionError("this server has no job store"));
  }
  return watcher_->Watch(request->job_id());
}

grpc::ServerUnaryReactor* SyncServiceImpl::RetryJob(grpc::CallbackServerContext* context,
                                                    const onsync::v1::RetryJobRequest* request,
                                                    onsync::v1::RetryJobResponse* response) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return Answer(context, store.status());
  absl::StatusOr<v1::Job> job = (*store)->Requeue(request->job_id());
  if (job.ok()) {
    *response->mutable_job() = *std::move(job);
    workers_->Wake();
  }
  return Answer(context, job.status());
}

grpc::ServerUnaryReactor* SyncServiceImpl::CancelJob(grpc::CallbackServerContext* context,
                                                     const onsync::v1::CancelJobRequest* request,
                                                     onsync::v1::CancelJobResponse* response) {
  absl::StatusOr<jobs::JobStore*> store = Store();
  if (!store.ok()) return Answer(context, store.status());
  absl::StatusOr<v1::Job> job = (*store)->Cancel(request->job_id());
  if (job.ok()) *response->mutable_job() = *std::move(job);
  return Answer(context, job.status());
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
