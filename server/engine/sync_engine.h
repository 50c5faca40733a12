// The sync engine: runs one profile for one trigger (ARCHITECTURE.md "One event, end to end" and
// "Engine rules").
//
// One run, at most 3 dependent upstream round trips:
//   1. ServiceNow: ONE Table API read of the row whose key field equals the trigger key, asking
//      for every output field at once (dot-walks such as `it_application_owner.name` included, so
//      no per-reference reads). In WRITE_BACK and DRY_RUN the triggering Onspring record is read
//      at the same time (by the trigger's record id after checking it against the key, else by a
//      query on the target key field).
//   2. Onspring: ONE query per referenced (app, match field) for all the event's values, minus
//      those cached; the target app's field metadata when list value ids are needed (cached).
//   3. Creates of missing referenced records (ON_MISSING_CREATE) and list values
//      (create_missing), in parallel, each exactly once under concurrent events.
//   Then WRITE_BACK saves the triggering record with the changed fields only (no request at all
//   when nothing changed).
//
// Values (SyncResult.values, the outcome's flat object):
//   text       the string (entries re-joined with `join` when `split` is set); "" when empty
//   number     a number; null when empty or not a number (warning INVALID_NUMBER)
//   date       ISO 8601 UTC; null when empty or not a date (warning INVALID_DATE)
//   list       the value name(s), or id(s) with output: id; null when empty
//   reference  the record id (a number); with `split`, the ids joined by `join` (default "|",
//              "" when none). An empty source gives null / "" and warning EMPTY_REFERENCE; an
//              entry with no record is left out with REFERENCE_NOT_FOUND (on_missing: skip),
//              fails the sync with NOT_FOUND (fail), or is created (create).
//   A source field ServiceNow did not return (unknown name, hidden by ACL) gives null and
//   SOURCE_FIELD_MISSING.
// List names are checked against the field's list (unknown: warning LIST_VALUE_NOT_FOUND and left
// out, or added with create_missing) whenever ids are needed: in WRITE_BACK and DRY_RUN, with
// output: id, and with create_missing. In RESPOND with output: name the names pass through (the
// outcome's Data Mapping matches list values by name), which saves a metadata read.
//
// Modes: RESPOND computes values (and creates missing referenced records); WRITE_BACK also saves;
// DRY_RUN reads everything, creates nothing, writes nothing, and reports the planned creates
// (record id 0; the reference's value is then null) and changes.
//
// Errors: NOT_FOUND (no ServiceNow row; no target record; a reference with on_missing: fail),
// ABORTED (ambiguous match), INVALID_ARGUMENT (a trigger without key), FAILED_PRECONDITION (a
// write mode on a profile without target), and the upstream clients' statuses (UNAVAILABLE,
// DEADLINE_EXCEEDED, UNAUTHENTICATED, PERMISSION_DENIED …). The first error answers the call;
// requests already sent finish in the background (a create that completes is still cached).
//
// Thread safety: thread-safe; Run may be called concurrently. `done` runs exactly once, on a
// transport thread (or inline when the run fails before any request); it must not block. The
// engine, and the clients of every Upstreams passed in, must outlive pending callbacks.
#ifndef ONSYNC_SERVER_ENGINE_SYNC_ENGINE_H_
#define ONSYNC_SERVER_ENGINE_SYNC_ENGINE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/table_client.h"
#include "onsync/v1/config.pb.h"
#include "onsync/v1/job.pb.h"
#include "server/engine/field_catalog.h"
#include "server/engine/reference_resolver.h"

namespace onsync::engine {

// absl::StatusCode values 0 (OK) .. 16 (UNAUTHENTICATED).
inline constexpr size_t kStatusCodes = 17;

// The two upstreams one run talks to. The pointers keep the clients (and whatever they depend
// on, through `keep_alive`) alive until the run ends.
struct Upstreams {
  std::shared_ptr<clients::servicenow::TableClient> servicenow;
  std::shared_ptr<clients::onspring::OnspringClient> onspring;
  // The Onspring tenant the clients reach (base URL and API key fingerprint): cached ids are
  // kept per scope.
  std::string onspring_scope;
  std::shared_ptr<void> keep_alive;
};

struct EngineOptions {
  CacheOptions cache;
  // Serializes creates of referenced records across processes (replicas sharing PostgreSQL);
  // null: within this process only.
  std::shared_ptr<CreateLock> create_lock;
};

// Counters since construction, for metrics.
struct EngineStats {
  CacheStats references;
  CacheStats fields;
  // Runs (Run and RunForRow) ended, by absl::StatusCode (index 0..16).
  std::array<int64_t, kStatusCodes> runs_by_code = {};
  // Referenced records created (not DRY_RUN's planned ones) and target records saved
  // (SyncResult.written).
  int64_t records_created = 0;
  int64_t records_written = 0;
};

class SyncEngine {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<onsync::v1::SyncResult>) &&>;

  SyncEngine(const clients::Clock& clock, EngineOptions options);
  ~SyncEngine();
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  // `mode` must be RESPOND, WRITE_BACK or DRY_RUN; `trigger.key` is required. Every upstream
  // call is bounded by `call.deadline` and carries `call.traceparent`.
  void Run(std::shared_ptr<const onsync::v1::Profile> profile, Upstreams upstreams,
           onsync::v1::Trigger trigger, onsync::v1::SyncMode mode, const clients::CallOptions& call,
           Callback done);

  // The same run for a ServiceNow row read already (a batch run's page), which must hold the
  // source key field and every output field's `from`. `target` is the profile's target record
  // for the row (with every to_field and the key field), or nullopt when it has none: then
  // WRITE_BACK creates it with every non-empty field and the key (result.target_record_id is the
  // new id), and DRY_RUN reports those fields as changes.
  void RunForRow(std::shared_ptr<const onsync::v1::Profile> profile, Upstreams upstreams,
                 clients::servicenow::Row row, std::optional<clients::onspring::Record> target,
                 onsync::v1::SyncMode mode, const clients::CallOptions& call, Callback done);

  // Resolves, with one query per referenced (app, match field), every reference entry of
  // `rows` (a batch page) that the cache does not hold, and caches the records found, so that
  // the rows' runs need no lookups of their own. Missing records are left to each run (its
  // on_missing). `done` gets the first query error, if any; it runs on a transport thread, or
  // inline when nothing needed a query.
  void PrefetchReferences(const onsync::v1::Profile& profile, const Upstreams& upstreams,
                          const std::vector<const clients::servicenow::Row*>& rows,
                          const clients::CallOptions& call,
                          absl::AnyInvocable<void(absl::Status) &&> done);

  EngineStats stats() const;

 private:
  class RunState;

  // Counts the run's outcome, then calls `done`.
  Callback Counted(Callback done);

  ReferenceResolver references_;
  FieldCatalog fields_;
  std::array<std::atomic<int64_t>, kStatusCodes> runs_by_code_{};
  std::atomic<int64_t> records_created_{0};
  std::atomic<int64_t> records_written_{0};
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_SYNC_ENGINE_H_
