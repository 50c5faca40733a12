// The store-independent half of the JobStore contract (job_store.h): how a stored onsync.v1.Job
// changes on each call, how requests are checked, how ids and page tokens are made. The SQLite
// and PostgreSQL stores share it, so that they differ only in how they read, lock and write rows;
// the contract tests check both.
//
// Times: every time a store writes into a Job is the Clock's time truncated to whole microseconds
// (TruncatedNow), and the stores' time columns are microseconds since the Unix epoch.
//
// Thread safety: the functions are pure and thread-safe. JobIdGenerator is not: its owner guards
// it.
#ifndef ONSYNC_SERVER_JOBS_JOB_TRANSITIONS_H_
#define ONSYNC_SERVER_JOBS_JOB_TRANSITIONS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "google/protobuf/timestamp.pb.h"
#include "onsync/v1/job.pb.h"
#include "server/jobs/job_store.h"

namespace onsync::jobs::internal {

inline constexpr int kDefaultMaxAttempts = 8;
inline constexpr int kDefaultPageSize = 50;
inline constexpr int kMaxPageSize = 500;
// ClaimNext hands out at most this many jobs per call, whatever `max` says.
inline constexpr int kMaxClaim = 1000;
// ClaimNext looks again at most this many times when a round buried jobs (claimed fewer than
// asked because some expired leases were last attempts).
inline constexpr int kMaxClaimRounds = 16;
// last_error.message is cut to this many bytes (upstream errors can quote whole bodies).
inline constexpr size_t kMaxErrorMessageBytes = 4096;

// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view), so
// the public std::string_view parameters are converted once at the boundary.
inline absl::string_view AsAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// ---------------------------------------------------------------------------------------------
// Times and text
// ---------------------------------------------------------------------------------------------

// The clock's time, truncated to whole microseconds (what the stores keep).
absl::Time TruncatedNow(const clients::Clock& clock);
int64_t Micros(absl::Time t);
// The first whole microsecond at or after `t`.
int64_t CeilMicros(absl::Time t);
void SetTime(absl::Time t, google::protobuf::Timestamp* timestamp);
int64_t MicrosOf(const google::protobuf::Timestamp& timestamp);

// "QUEUED", "RUNNING", ... (the number for an unknown state).
std::string StateName(int state);

// `text` as valid UTF-8 (each invalid byte becomes U+FFFD) of at most `max_bytes` bytes (cut at a
// character, with "..." appended): proto3 strings must be UTF-8 or the stored job does not parse.
std::string ValidUtf8(std::string_view text, size_t max_bytes);

// The job as stored (binary). INVALID_ARGUMENT when it holds text that is not UTF-8: it would
// serialize but never parse again, so the bytes are parsed back before they are written.
absl::StatusOr<std::string> Serialize(const onsync::v1::Job& job);
// A stored job; DATA_LOSS when the bytes do not parse.
absl::StatusOr<onsync::v1::Job> ParseJob(std::string_view bytes);

// ---------------------------------------------------------------------------------------------
// Ids and page tokens
// ---------------------------------------------------------------------------------------------

// `j_`, 10 characters of milliseconds since the epoch and 16 of randomness (80 bits), in Crockford
// base32: the ULID layout, so ids sort by creation time. Ids made in one millisecond (or after the
// clock went back) count up from the last one, so they also sort in the order they were made.
// Not thread-safe.
class JobIdGenerator {
 public:
  std::string Next(absl::Time now);

 private:
  absl::BitGen random_;
  // The last id's time and random part.
  int64_t last_millis_ = -1;
  uint64_t last_high_ = 0;  // 16 bits
  uint64_t last_low_ = 0;   // 64 bits
};

// A page token: the last job's create_time (microseconds) and id, "<micros>:<id>", base64url.
std::string EncodePageToken(int64_t create_micros, std::string_view id);
// INVALID_ARGUMENT for a token that EncodePageToken did not make.
absl::Status DecodePageToken(std::string_view token, int64_t* create_micros, std::string* id);

// A ListQuery, checked: what a store's query needs.
struct CheckedListQuery {
  int page_size = kDefaultPageSize;
  // Sorted, without duplicates; empty: every state.
  std::vector<int> states;
  // From the page token; nullopt on the first page.
  std::optional<int64_t> after_create_micros;
  std::string after_id;
  // Inclusive and exclusive bounds on create_time (microseconds), when set.
  std::optional<int64_t> created_from_micros;
  std::optional<int64_t> created_before_micros;
};
absl::StatusOr<CheckedListQuery> CheckListQuery(const ListQuery& query);

// ---------------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------------

// The job that Enqueue stores for `request` (QUEUED, default max_attempts, dedupe_key), without
// id and times (StampNewJob sets them). INVALID_ARGUMENT for a malformed request.
absl::StatusOr<onsync::v1::Job> NewQueuedJob(NewJob& request);
// Sets the id and the create, update and next-attempt times.
void StampNewJob(std::string id, absl::Time now, onsync::v1::Job& job);

// ClaimNext's arguments; INVALID_ARGUMENT for nonsense.
absl::Status CheckClaim(std::string_view owner, int max, absl::Duration lease);

// True when a RUNNING job whose lease expired was on its last attempt: ClaimNext buries it
// instead of claiming it.
bool IsLastAttemptLeaseExpired(const onsync::v1::Job& job);
// The lease of `expired_owner` ended on the job's last attempt: DEAD, last_error ABORTED.
void Bury(onsync::v1::Job& job, std::string_view expired_owner, absl::Time now);
// A claim: RUNNING, attempts + 1, start_time on the first claim.
void StartAttempt(onsync::v1::Job& job, absl::Time now);

// ABORTED unless the job is RUNNING and leased to `owner` (`lease_owner` is the stored lease).
absl::Status CheckLeased(const onsync::v1::Job& job, const std::optional<std::string>& lease_owner,
                         std::string_view owner);

// A job that ended (SUCCEEDED, DEAD, CANCELLED) at `now`: nothing more is scheduled.
void End(onsync::v1::Job& job, onsync::v1::JobState state, absl::Time now);
void RecordProgress(onsync::v1::Job& job, const onsync::v1::BatchProgress& progress,
                    absl::Time now);
void RecordSuccess(onsync::v1::Job& job, const onsync::v1::SyncResult& result, absl::Time now);
// last_error = `error`; DEAD when attempts >= max_attempts or there is no retry time, else FAILED
// until `retry_at`.
void RecordFailure(onsync::v1::Job& job, const absl::Status& error,
                   std::optional<absl::Time> retry_at, absl::Time now);

// FAILED_PRECONDITION unless the job is DEAD or FAILED.
absl::Status CheckRequeue(const onsync::v1::Job& job);
// QUEUED now, attempts 0 (last_error and start_time kept).
void Requeue(onsync::v1::Job& job, absl::Time now);

// FAILED_PRECONDITION for a job that already ended.
absl::Status CheckCancel(const onsync::v1::Job& job);

// ALREADY_EXISTS naming `active` (an active batch run of the profile, with its state).
absl::Status BatchRunExists(std::string_view profile, std::string_view active);

}  // namespace onsync::jobs::internal

#endif  // ONSYNC_SERVER_JOBS_JOB_TRANSITIONS_H_
