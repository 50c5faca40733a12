#include "server/service/job_watchers.h"

#include <utility>
#include <vector>

#include "common/status_grpc.h"
#include "google/protobuf/util/message_differencer.h"

namespace onsync::server {
namespace {

bool HasEnded(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_DEAD ||
         state == v1::JOB_STATE_CANCELLED;
}

// Ends at once.
class Refused final : public grpc::ServerWriteReactor<v1::WatchJobResponse> {
 public:
  explicit Refused(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// One WatchJob call. Writes one message at a time; the poller offers it the job's latest state.
class JobWatchers::Stream final : public grpc::ServerWriteReactor<v1::WatchJobResponse> {
 public:
  Stream(JobWatchers& owner, std::string job_id) : owner_(owner), job_id_(std::move(job_id)) {}

  // Called by the poller (never concurrently with itself).
  void Offer(const absl::StatusOr<v1::Job>& job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || writing_) return;
    if (!job.ok()) return FinishLocked(ToGrpcStatus(job.status()));
    if (sent_any_ && google::protobuf::util::MessageDifferencer::Equals(last_, *job)) return;
    last_ = *job;
    sent_any_ = true;
    ended_ = HasEnded(job->state());
    *response_.mutable_job() = *job;
    writing_ = true;
    StartWrite(&response_);
  }

  void End(const grpc::Status& status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!finished_ && !writing_) FinishLocked(status);
    pending_end_ = status;
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watcher left"));
    if (ended_) return FinishLocked(grpc::Status::OK);
    if (pending_end_.has_value()) FinishLocked(*pending_end_);
  }

  void OnCancel() override { End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    owner_.Remove(this);
    delete this;
  }

 private:
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  JobWatchers& owner_;
  const std::string job_id_;
  std::mutex mu_;
  bool writing_ = false;
  bool finished_ = false;
  bool sent_any_ = false;
  bool ended_ = false;
  std::optional<grpc::Status> pending_end_;
  v1::Job last_;
  v1::WatchJobResponse response_;

  friend class JobWatchers;
};

JobWatchers::JobWatchers(jobs::JobStore& store, absl::Duration interval)
    : store_(store), interval_(interval), thread_([this] { Loop(); }) {}

JobWatchers::~JobWatchers() { Stop(); }

grpc::ServerWriteReactor<v1::WatchJobResponse>* JobWatchers::Refuse(absl::Status status) {
  return new Refused(status);
}

grpc::ServerWriteReactor<v1::WatchJobResponse>* JobWatchers::Watch(std::string job_id) {
  absl::StatusOr<v1::Job> job = store_.Get(job_id);
  if (!job.ok()) return Refuse(job.status());
  auto* stream = new Stream(*this, std::move(job_id));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      delete stream;
      return Refuse(absl::UnavailableError("the server is shutting down"));
    }
    open_.insert(stream);
  }
  stream->Offer(job);
  return stream;
}

void JobWatchers::Remove(Stream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(stream);
  wake_.notify_all();
}

void JobWatchers::Stop() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    for (Stream* stream : open_) {
      stream->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down"));
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Streams finish on gRPC's threads; wait until each has left (OnDone).
  std::unique_lock<std::mutex> lock(mu_);
  wake_.wait_for(lock, std::chrono::seconds(5), [this] { return open_.empty(); });
}

void JobWatchers::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, absl::ToChronoNanoseconds(interval_));
    if (stopping_) return;
    // Offer under the lock: a stream stays open (not deleted) while it is in open_.
    for (Stream* stream : open_) stream->Offer(store_.Get(stream->job_id_));
  }
}

}  // namespace onsync::server
