// W3C Trace Context (`traceparent`): parsing, creating, and the child context of one hop.
//
// A traceparent is `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower-case. The
// gateway takes the caller's trace (or starts one), each process that forwards the event gives
// its own hop a new parent id, and every upstream request and log line of the event carries the
// trace id. Only version 00 is produced; a higher version is accepted when its first four fields
// have the 00 shape (the spec's forward-compatibility rule). All-zero ids are invalid.
//
// Thread safety: pure functions; NewTrace and ChildOf draw ids from a thread-local generator.
#ifndef ONSYNC_COMMON_TRACE_CONTEXT_H_
#define ONSYNC_COMMON_TRACE_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace onsync {

struct TraceContext {
  std::string trace_id;   // 32 lower-case hex digits, not all zero
  std::string parent_id;  // 16 lower-case hex digits, not all zero
  uint8_t flags = 0;      // bit 0: sampled

  // The `traceparent` header value (version 00).
  std::string ToTraceparent() const;
};

// nullopt for anything that is not a valid traceparent (upper-case hex included).
std::optional<TraceContext> ParseTraceparent(std::string_view header);

// A new trace: random trace and parent ids, sampled.
TraceContext NewTrace();

// The same trace with a new random parent id: the context a hop sends onward.
TraceContext ChildOf(const TraceContext& parent);

// The caller's trace continued (ChildOf) when `header` is a valid traceparent, else a new trace.
TraceContext ContinueOrStartTrace(std::optional<std::string_view> header);

// The trace id of a traceparent value; empty when it is not valid.
std::string TraceIdOf(std::string_view traceparent);

}  // namespace onsync

#endif  // ONSYNC_COMMON_TRACE_CONTEXT_H_
