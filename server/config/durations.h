// Config durations (google.protobuf.Duration) as absl::Duration, with the config's defaults.
//
// Thread safety: pure functions.
#ifndef ONSYNC_SERVER_CONFIG_DURATIONS_H_
#define ONSYNC_SERVER_CONFIG_DURATIONS_H_

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"

namespace onsync::config {

inline absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// `d` when the config set it (`has`), else `fallback`.
inline absl::Duration DurationOr(bool has, const google::protobuf::Duration& d,
                                 absl::Duration fallback) {
  return has ? ToDuration(d) : fallback;
}

}  // namespace onsync::config

#endif  // ONSYNC_SERVER_CONFIG_DURATIONS_H_
