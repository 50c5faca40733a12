// Trigger extraction: where an Onspring outcome's templated JSON body carries the record id and
// the key value, by the profile's `trigger` paths (dotted member names for nested objects, e.g.
// `record.name`).
//
// Rules: the key must be a non-blank string or a number (integral numbers as decimal digits,
// others in shortest round-trip form); the record id, when the profile names one and the body
// has it, a whole number >= 1 or a string of digits; a missing record id is 0 (the key is what is
// trusted). Top-level string, number and boolean members are copied into `raw_values` (at most
// 32, for logs). Errors are INVALID_ARGUMENT naming the path and the profile key.
//
// Thread safety: pure functions.
#ifndef ONSYNC_SERVER_ENGINE_TRIGGER_H_
#define ONSYNC_SERVER_ENGINE_TRIGGER_H_

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "onsync/v1/config.pb.h"
#include "onsync/v1/job.pb.h"

namespace onsync::engine {

absl::StatusOr<onsync::v1::Trigger> ExtractTrigger(const onsync::v1::TriggerExtraction& paths,
                                                   const google::protobuf::Struct& body);

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_TRIGGER_H_
