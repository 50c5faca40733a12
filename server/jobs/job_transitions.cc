#include "server/jobs/job_transitions.h"

#include <algorithm>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace onsync::jobs::internal {

using ::onsync::v1::Job;
using ::onsync::v1::JobState;

// ---------------------------------------------------------------------------------------------
// Times and text
// ---------------------------------------------------------------------------------------------

absl::Time TruncatedNow(const clients::Clock& clock) {
  return absl::FromUnixMicros(absl::ToUnixMicros(clock.Now()));
}

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

int64_t CeilMicros(absl::Time t) {
  const int64_t floor = absl::ToUnixMicros(t);
  return absl::FromUnixMicros(floor) < t ? floor + 1 : floor;
}

void SetTime(absl::Time t, google::protobuf::Timestamp* timestamp) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  timestamp->set_seconds(seconds);
  timestamp->set_nanos(static_cast<int32_t>(rest * 1000));
}

int64_t MicrosOf(const google::protobuf::Timestamp& timestamp) {
  return timestamp.seconds() * 1'000'000 + timestamp.nanos() / 1000;
}

std::string StateName(int state) {
  return onsync::v1::JobState_IsValid(state)
             ? onsync::v1::JobState_Name(static_cast<JobState>(state)).substr(10)  // JOB_STATE_
             : absl::StrCat(state);
}

std::string ValidUtf8(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char c = byte(i);
    size_t length = 0;
    uint32_t min = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      length = 1;
      code = c;
    } else if ((c & 0xe0) == 0xc0) {
      length = 2;
      min = 0x80;
      code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3;
      min = 0x800;
      code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4;
      min = 0x10000;
      code = c & 0x07;
    }
    bool valid = length > 0 && i + length <= text.size();
    for (size_t k = 1; valid && k < length; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80) valid = false;
      code = (code << 6) | (byte(i + k) & 0x3f);
    }
    valid = valid && code >= min && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    const std::string_view piece = valid ? text.substr(i, length) : "\xef\xbf\xbd";
    if (out.size() + piece.size() > max_bytes) {
      out.append("...");
      break;
    }
    out.append(piece);
    i += valid ? length : 1;
  }
  return out;
}

absl::StatusOr<std::string> Serialize(const Job& job) {
  std::string bytes;
  Job check;
  if (!job.SerializeToString(&bytes) || !check.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job.id(), " cannot be stored: it holds text that is not UTF-8"));
  }
  return bytes;
}

absl::StatusOr<Job> ParseJob(std::string_view bytes) {
  Job job;
  if (!job.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("job store: a stored job does not parse");
  }
  return job;
}

// ---------------------------------------------------------------------------------------------
// Ids and page tokens
// ---------------------------------------------------------------------------------------------

std::string JobIdGenerator::Next(absl::Time now) {
  static constexpr char kDigits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const int64_t millis = std::max<int64_t>(absl::ToUnixMillis(now), 0);
  if (millis > last_millis_) {
    last_millis_ = millis;
    last_high_ = absl::Uniform<uint64_t>(random_) & 0xffff;
    last_low_ = absl::Uniform<uint64_t>(random_);
  } else if (++last_low_ == 0 && ++last_high_ > 0xffff) {
    ++last_millis_;
    last_high_ = 0;
  }
  std::string id = "j_";
  id.resize(28);
  for (int i = 0; i < 10; ++i) {
    id[2 + i] = kDigits[(static_cast<uint64_t>(last_millis_) >> (5 * (9 - i))) & 31];
  }
  for (int i = 0; i < 16; ++i) {
    const int shift = 5 * (15 - i);  // of this character's lowest bit, in the 80-bit number
    uint64_t bits = 0;
    if (shift >= 64) {
      bits = last_high_ >> (shift - 64);
    } else if (shift + 5 <= 64) {
      bits = last_low_ >> shift;
    } else {
      bits = (last_low_ >> shift) | (last_high_ << (64 - shift));
    }
    id[12 + i] = kDigits[bits & 31];
  }
  return id;
}

std::string EncodePageToken(int64_t create_micros, std::string_view id) {
  return absl::WebSafeBase64Escape(absl::StrCat(create_micros, ":", AsAbsl(id)));
}

absl::Status DecodePageToken(std::string_view token, int64_t* create_micros, std::string* id) {
  const absl::Status malformed = absl::InvalidArgumentError("malformed page token");
  std::string text;
  if (token.size() > 256 || !absl::WebSafeBase64Unescape(AsAbsl(token), &text)) return malformed;
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return malformed;
  if (!absl::SimpleAtoi(absl::string_view(text).substr(0, colon), create_micros)) return malformed;
  *id = text.substr(colon + 1);
  if (id->size() != 28 || id->compare(0, 2, "j_") != 0) return malformed;
  return absl::OkStatus();
}

absl::StatusOr<CheckedListQuery> CheckListQuery(const ListQuery& query) {
  CheckedListQuery checked;
  checked.page_size = query.page_size == 0 ? kDefaultPageSize : query.page_size;
  if (checked.page_size < 1 || checked.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size is 1..", kMaxPageSize, " (0 for ", kDefaultPageSize, ")"));
  }
  for (JobState state : query.states) {
    if (state == onsync::v1::JOB_STATE_UNSPECIFIED || !onsync::v1::JobState_IsValid(state)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown job state ", state));
    }
    checked.states.push_back(state);
  }
  std::sort(checked.states.begin(), checked.states.end());
  checked.states.erase(std::unique(checked.states.begin(), checked.states.end()),
                       checked.states.end());
  if (!query.page_token.empty()) {
    int64_t micros = 0;
    if (absl::Status s = DecodePageToken(query.page_token, &micros, &checked.after_id); !s.ok()) {
      return s;
    }
    checked.after_create_micros = micros;
  }
  if (query.created_after.has_value())
    checked.created_from_micros = CeilMicros(*query.created_after);
  if (query.created_before.has_value()) {
    checked.created_before_micros = CeilMicros(*query.created_before);
  }
  return checked;
}

// ---------------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------------

absl::StatusOr<Job> NewQueuedJob(NewJob& request) {
  Job& in = request.job;
  if (in.profile().empty()) return absl::InvalidArgumentError("a job needs a profile");
  if (in.kind() != onsync::v1::JOB_KIND_EVENT && in.kind() != onsync::v1::JOB_KIND_BATCH) {
    return absl::InvalidArgumentError("a job's kind is JOB_KIND_EVENT or JOB_KIND_BATCH");
  }
  if (!onsync::v1::SyncMode_IsValid(in.mode())) {
    return absl::InvalidArgumentError(absl::StrCat("unknown sync mode ", in.mode()));
  }
  if (in.max_attempts() < 0) {
    return absl::InvalidArgumentError("a job's max_attempts is positive (0 for the default)");
  }
  Job job;
  job.set_profile(in.profile());
  job.set_kind(in.kind());
  job.set_mode(in.mode());
  job.set_traceparent(in.traceparent());
  if (in.has_trigger()) *job.mutable_trigger() = std::move(*in.mutable_trigger());
  if (in.has_batch()) *job.mutable_batch() = std::move(*in.mutable_batch());
  job.set_max_attempts(in.max_attempts() > 0 ? in.max_attempts() : kDefaultMaxAttempts);
  job.set_dedupe_key(request.dedupe_key);
  job.set_state(onsync::v1::JOB_STATE_QUEUED);
  job.set_attempts(0);
  return job;
}

void StampNewJob(std::string id, absl::Time now, Job& job) {
  job.set_id(std::move(id));
  SetTime(now, job.mutable_create_time());
  SetTime(now, job.mutable_update_time());
  SetTime(now, job.mutable_next_attempt_time());
}

absl::Status CheckClaim(std::string_view owner, int max, absl::Duration lease) {
  if (owner.empty()) return absl::InvalidArgumentError("a claim needs an owner");
  if (max < 1) return absl::InvalidArgumentError("a claim takes at least one job");
  if (lease <= absl::ZeroDuration()) return absl::InvalidArgumentError("a lease is positive");
  return absl::OkStatus();
}

bool IsLastAttemptLeaseExpired(const Job& job) {
  return job.state() == onsync::v1::JOB_STATE_RUNNING && job.attempts() >= job.max_attempts();
}

void Bury(Job& job, std::string_view expired_owner, absl::Time now) {
  // Its last attempt's worker died (or stalled past its lease): a job that kills its worker every
  // time must not be claimed for ever.
  job.mutable_last_error()->set_code(static_cast<int>(absl::StatusCode::kAborted));
  job.mutable_last_error()->set_message(ValidUtf8(
      absl::StrCat("the lease of ", AsAbsl(expired_owner), " ended on attempt ", job.attempts(),
                   " of ", job.max_attempts(), " without a result (the worker stopped or stalled)"),
      kMaxErrorMessageBytes));
  End(job, onsync::v1::JOB_STATE_DEAD, now);
}

void StartAttempt(Job& job, absl::Time now) {
  SetTime(now, job.mutable_update_time());
  job.set_state(onsync::v1::JOB_STATE_RUNNING);
  job.set_attempts(job.attempts() + 1);
  if (!job.has_start_time()) SetTime(now, job.mutable_start_time());
}

absl::Status CheckLeased(const Job& job, const std::optional<std::string>& lease_owner,
                         std::string_view owner) {
  if (job.state() != onsync::v1::JOB_STATE_RUNNING) {
    return absl::AbortedError(absl::StrCat("job ", job.id(), " is no longer leased to ",
                                           AsAbsl(owner), ": it is ", StateName(job.state())));
  }
  if (lease_owner != owner) {
    return absl::AbortedError(absl::StrCat("job ", job.id(), " is no longer leased to ",
                                           AsAbsl(owner), ": ", lease_owner.value_or(""),
                                           " claimed it"));
  }
  return absl::OkStatus();
}

void End(Job& job, JobState state, absl::Time now) {
  job.set_state(state);
  SetTime(now, job.mutable_update_time());
  SetTime(now, job.mutable_end_time());
  job.clear_next_attempt_time();
}

void RecordProgress(Job& job, const onsync::v1::BatchProgress& progress, absl::Time now) {
  *job.mutable_progress() = progress;
  SetTime(now, job.mutable_update_time());
}

void RecordSuccess(Job& job, const onsync::v1::SyncResult& result, absl::Time now) {
  *job.mutable_result() = result;
  End(job, onsync::v1::JOB_STATE_SUCCEEDED, now);
}

void RecordFailure(Job& job, const absl::Status& error, std::optional<absl::Time> retry_at,
                   absl::Time now) {
  job.mutable_last_error()->set_code(static_cast<int>(error.code()));
  job.mutable_last_error()->set_message(ValidUtf8(
      std::string_view(error.message().data(), error.message().size()), kMaxErrorMessageBytes));
  if (!retry_at.has_value() || job.attempts() >= job.max_attempts()) {
    End(job, onsync::v1::JOB_STATE_DEAD, now);
  } else {
    job.set_state(onsync::v1::JOB_STATE_FAILED);
    SetTime(now, job.mutable_update_time());
    SetTime(*retry_at, job.mutable_next_attempt_time());
  }
}

absl::Status CheckRequeue(const Job& job) {
  if (job.state() != onsync::v1::JOB_STATE_DEAD && job.state() != onsync::v1::JOB_STATE_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat("job ", job.id(), " is ",
                                                      StateName(job.state()),
                                                      "; only DEAD and FAILED jobs are requeued"));
  }
  return absl::OkStatus();
}

void Requeue(Job& job, absl::Time now) {
  job.set_state(onsync::v1::JOB_STATE_QUEUED);
  job.set_attempts(0);
  job.clear_end_time();
  SetTime(now, job.mutable_update_time());
  SetTime(now, job.mutable_next_attempt_time());
}

absl::Status CheckCancel(const Job& job) {
  if (job.state() != onsync::v1::JOB_STATE_QUEUED && job.state() != onsync::v1::JOB_STATE_RUNNING &&
      job.state() != onsync::v1::JOB_STATE_FAILED) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id(), " already ended: it is ", StateName(job.state())));
  }
  return absl::OkStatus();
}

absl::Status BatchRunExists(std::string_view profile, std::string_view active) {
  return absl::AlreadyExistsError(
      absl::StrCat("profile ", AsAbsl(profile), " already has a batch run: ", AsAbsl(active)));
}

}  // namespace onsync::jobs::internal
