// The batch runner: one profile over a whole ServiceNow table (or the rows updated since a
// time), upserting every row's Onspring record through SyncEngine::RunForRow.
//
// Paging is keyset, never by offset (offsets skip or repeat rows while data changes;
// servicenow-api.md §1.5, §2.3): pages are ordered by (sys_updated_on, sys_id) and each page
// continues strictly after the cursor (T, S) of the last row done,
//   sys_updated_on>T^NQsys_updated_on=T^sys_id>S^ORDERBYsys_updated_on^ORDERBYsys_id
// (BatchPageQuery), so rows sharing one second across a page boundary are neither skipped nor
// repeated. The first page is `sys_updated_on>=<since>` (or every row). Only an empty page ends
// the run: ACLs cut pages short after the limit is applied. When an empty page's X-Total-Count
// (counted before ACLs) says rows remain, those rows are all hidden: the same query is read on
// by sysparm_offset until a visible row or the count's end.
//
// Per page, upstream calls: ONE ServiceNow read (sys_id, sys_updated_on, the key field and every
// output field's `from`), ONE Onspring query for the target records of all the page's keys
// (re-checked byte for byte: Onspring may match case-insensitively), then RunForRow per row with
// at most `parallelism` in flight. Memory is bounded by one page.
//
// Counters (BatchProgress): `seen` every row handled; `created` / `updated` written with no /
// with a target record (DRY_RUN: would be, i.e. non-empty changes); `unchanged` not written;
// `failed` an error for that row, logged, and the run goes on: no key value, a key on two rows
// of one page or on two Onspring records (ABORTED), an engine error such as NOT_FOUND
// (on_missing: fail). After every page the counters and the page's last row go to `checkpoint`.
//
// Stopping: errors reading a page or querying targets (UNAVAILABLE after the transport's
// retries, DEADLINE_EXCEEDED, ...) end the run with that error. So does a row whose sync fails
// with UNAVAILABLE, DEADLINE_EXCEEDED or UNAUTHENTICATED (an outage, not a bad row): the page is
// then NOT checkpointed, so that the caller's retry redoes it from the last checkpoint instead of
// leaving its rows behind as failed (upserts by key make the redo idempotent). A failing
// checkpoint ends the run with its error; `cancelled()` ends it with CANCELLED after
// checkpointing the rows done so far (it is polled before every page and every row; rows in
// flight finish first). Pages checkpointed are never fetched again by a resumed run.
//
// Watermark: the last checkpoint's cursor_updated_on. An incremental run from it (`since`, which
// is inclusive) sees the rows at exactly that second again; upserts make that harmless. A run
// that sees no row checkpoints nothing: the caller keeps its previous watermark.
//
// Thread safety: RunBatch blocks the calling thread until the run ends (a job worker thread,
// which may wait; never a transport, scheduler or gRPC thread: the run waits for callbacks that
// run there). `checkpoint` and `cancelled` are called on the calling thread only. Distinct runs
// may run concurrently on one engine. The engine and the upstream clients must outlive the call.
#ifndef ONSYNC_SERVER_ENGINE_BATCH_SYNC_H_
#define ONSYNC_SERVER_ENGINE_BATCH_SYNC_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "onsync/v1/config.pb.h"
#include "onsync/v1/job.pb.h"
#include "server/engine/sync_engine.h"

namespace onsync::engine {

struct BatchOptions {
  // Rows whose sync runs at the same time, 1..1000.
  int parallelism = 4;
  // sysparm_limit, 1..10000 (1,000-2,000 is the largest size known to work well, §1.5).
  int page_size = 200;
  // Deadline of each upstream call: a page read, a target query, one row's sync.
  absl::Duration call_timeout = absl::Seconds(60);
};

struct BatchRun {
  // Needs source (table, key_field) and target (app_id, key_field_id).
  std::shared_ptr<const onsync::v1::Profile> profile;
  Upstreams upstreams;
  SyncEngine* engine = nullptr;
  // SYNC_MODE_WRITE_BACK or SYNC_MODE_DRY_RUN.
  onsync::v1::SyncMode mode = onsync::v1::SYNC_MODE_UNSPECIFIED;
  // Inclusive lower bound on sys_updated_on, ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC); "" for
  // every row.
  std::string since;
  // Where to start: the counters so far and the cursor of the last row done ("" = the start).
  onsync::v1::BatchProgress progress;
  BatchOptions options;
  // W3C traceparent sent on every upstream request of the run; empty for none.
  std::string traceparent;
  // Called after every page with the counters and the cursor of its last row done; must store
  // them durably before returning. An error stops the run with that error. Null: not stored.
  absl::AnyInvocable<absl::Status(const onsync::v1::BatchProgress&)> checkpoint;
  // Polled before every page and every row; true stops the run with CANCELLED. Null: never.
  absl::AnyInvocable<bool()> cancelled;
};

// Runs to the end on the calling thread and returns the final progress (equal to the last
// checkpoint's, or to `run.progress` when no row was seen). Errors: INVALID_ARGUMENT (a bad
// mode, option, `since` or cursor), FAILED_PRECONDITION (a profile without source or target;
// ServiceNow rows without sys_id / sys_updated_on, out of order, or ignoring the cursor), the
// upstreams' errors (UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, ...), the checkpoint's
// error, CANCELLED.
absl::StatusOr<onsync::v1::BatchProgress> RunBatch(BatchRun run);

// The encoded query (not yet percent-encoded) of the page after the cursor (cursor_updated_on,
// cursor_sys_id) for a run from `since`, both in `YYYY-MM-DD HH:MM:SS`:
//   no cursor, no since:  ORDERBYsys_updated_on^ORDERBYsys_id
//   no cursor:            sys_updated_on>=<since>^ORDERBYsys_updated_on^ORDERBYsys_id
//   cursor (T, S):        sys_updated_on>T^NQsys_updated_on=T^sys_id>S^ORDERBY...
// A cursor before `since` (not one this runner wrote) keeps `sys_updated_on>=<since>` in both
// groups. INVALID_ARGUMENT for a malformed time, or a sys_id without its time.
absl::StatusOr<std::string> BatchPageQuery(std::string_view since,
                                           std::string_view cursor_updated_on,
                                           std::string_view cursor_sys_id);

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_BATCH_SYNC_H_
