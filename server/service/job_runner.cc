#include "server/service/job_runner.h"

#include <future>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/trace_context.h"
#include "server/engine/batch_sync.h"

namespace onsync::server {
namespace {

// An attempt is a hop of the trace of the request that created the job (a new trace for a
// scheduled run).
std::string AttemptTraceparent(const v1::Job& job) {
  return ContinueOrStartTrace(job.traceparent()).ToTraceparent();
}

}  // namespace

SyncJobRunner::SyncJobRunner(const ProfileMap& profiles, const UpstreamPool* upstreams,
                             engine::SyncEngine& engine, jobs::JobStore& store, Options options)
    : profiles_(profiles),
      upstreams_(upstreams),
      engine_(engine),
      store_(store),
      options_(options) {}

absl::StatusOr<v1::SyncResult> SyncJobRunner::RunAttempt(const v1::Job& job,
                                                         jobs::AttemptContext& context) {
  auto profile = profiles_.find(job.profile());
  if (profile == profiles_.end()) {
    return absl::NotFoundError(absl::StrCat("profile ", job.profile(), " is no longer configured"));
  }
  if (upstreams_ == nullptr) {
    return absl::FailedPreconditionError("the server has no upstream connections");
  }
  absl::StatusOr<engine::Upstreams> upstreams = upstreams_->Configured();
  if (!upstreams.ok()) return upstreams.status();
  if (context.cancelled()) return absl::CancelledError("the job was cancelled");
  if (job.kind() == v1::JOB_KIND_BATCH) {
    return RunBatchJob(job, profile->second, *std::move(upstreams), context);
  }
  return RunEvent(job, profile->second, *std::move(upstreams));
}

absl::StatusOr<v1::SyncResult> SyncJobRunner::RunEvent(
    const v1::Job& job, const std::shared_ptr<const v1::Profile>& profile,
    engine::Upstreams upstreams) {
  std::promise<absl::StatusOr<v1::SyncResult>> promise;
  const v1::SyncMode mode =
      job.mode() == v1::SYNC_MODE_UNSPECIFIED ? v1::SYNC_MODE_WRITE_BACK : job.mode();
  engine_.Run(
      profile, std::move(upstreams), job.trigger(), mode,
      clients::CallOptions(absl::Now() + options_.attempt_timeout, AttemptTraceparent(job)),
      [&promise](absl::StatusOr<v1::SyncResult> result) { promise.set_value(std::move(result)); });
  return promise.get_future().get();
}

absl::StatusOr<v1::SyncResult> SyncJobRunner::RunBatchJob(
    const v1::Job& job, const std::shared_ptr<const v1::Profile>& profile,
    engine::Upstreams upstreams, jobs::AttemptContext& context) {
  engine::BatchRun run;
  run.profile = profile;
  run.upstreams = std::move(upstreams);
  run.engine = &engine_;
  run.mode = job.mode() == v1::SYNC_MODE_DRY_RUN ? v1::SYNC_MODE_DRY_RUN : v1::SYNC_MODE_WRITE_BACK;
  run.progress = job.progress();
  run.options.parallelism = options_.batch_parallelism;
  run.traceparent = AttemptTraceparent(job);
  switch (job.batch().range_case()) {
    case v1::BatchSpec::kSince:
      run.since = absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                   absl::FromUnixSeconds(job.batch().since().seconds()),
                                   absl::UTCTimeZone());
      break;
    case v1::BatchSpec::kIncremental: {
      absl::StatusOr<std::optional<std::string>> watermark = store_.GetWatermark(job.profile());
      if (!watermark.ok()) return watermark.status();
      run.since = watermark->value_or("");
      break;
    }
    default:
      break;
  }
  run.checkpoint = [&context](const v1::BatchProgress& progress) {
    return context.SaveProgress(progress);
  };
  run.cancelled = [&context] { return context.cancelled(); };
  absl::StatusOr<v1::BatchProgress> done = engine::RunBatch(std::move(run));
  if (!done.ok()) return done.status();
  if (job.mode() != v1::SYNC_MODE_DRY_RUN && !done->cursor_updated_on().empty()) {
    if (absl::Status kept = store_.SetWatermark(job.profile(), done->cursor_updated_on());
        !kept.ok()) {
      return kept;
    }
  }
  if (absl::Status saved = context.SaveProgress(*done); !saved.ok()) return saved;
  return v1::SyncResult();
}

}  // namespace onsync::server
