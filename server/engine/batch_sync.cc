#include "server/engine/batch_sync.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/http/redact.h"
#include "clients/onspring/filter.h"
#include "clients/servicenow/encoded_query.h"
#include "common/logging.h"
#include "common/string_view.h"

namespace onsync::engine {
namespace {

using clients::onspring::FieldValue;
using clients::onspring::Record;
using clients::servicenow::EncodedQuery;
using clients::servicenow::Row;
using clients::servicenow::TablePage;
using onsync::v1::BatchProgress;
using onsync::v1::SyncResult;

constexpr std::string_view kUpdatedOn = "sys_updated_on";
constexpr std::string_view kSysId = "sys_id";
// Rows whose sync is in flight at once, at most.
constexpr int kMaxParallelism = 1000;

// ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC), a real date and time.
bool IsServiceNowTime(std::string_view text) {
  if (text.size() != 19) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = i == 4 || i == 7     ? c == '-'
                    : i == 10            ? c == ' '
                    : i == 13 || i == 16 ? c == ':'
                                         : c >= '0' && c <= '9';
    if (!ok) return false;
  }
  absl::Time time;
  std::string error;
  return absl::ParseTime("%Y-%m-%d %H:%M:%S", ToAbsl(text), absl::UTCTimeZone(), &time, &error);
}

// A row's place in the pages' order: (sys_updated_on, sys_id).
struct Cursor {
  std::string updated_on;
  std::string sys_id;

  friend std::strong_ordering operator<=>(const Cursor&, const Cursor&) = default;
  friend bool operator==(const Cursor&, const Cursor&) = default;
};

// A row's sync failed because an upstream is down or refuses the credentials, not because of the
// row: the run stops and the page is redone by the caller's retry.
bool StopsTheRun(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kUnauthenticated;
}

std::string Quote(std::string_view text) {
  return absl::StrCat("\"", ToAbsl(clients::Redactor::Global().Redact(text.substr(0, 200))), "\"");
}

// Blocks until an asynchronous call delivers its result (on another thread).
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start) {
  std::promise<absl::StatusOr<T>> promise;
  std::future<absl::StatusOr<T>> future = promise.get_future();
  start([&promise](absl::StatusOr<T> result) { promise.set_value(std::move(result)); });
  return future.get();
}

// One row of a page on its way through the engine.
struct RowWork {
  Row row;
  Cursor cursor;
  std::string key;
  std::optional<Record> target;
  bool had_target = false;
  // Not OK: the row fails without a sync.
  absl::Status error;
  // The engine's answer (written by its callback under PageState::mu).
  std::optional<absl::StatusOr<SyncResult>> result;
};

// A page's rows and the rows in flight, shared with the engine's callbacks.
struct PageState {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<RowWork> rows;
  int running = 0;    // guarded by mu
  bool stop = false;  // guarded by mu: a row failed with StopsTheRun
};

class BatchRunner {
 public:
  explicit BatchRunner(BatchRun run) : run_(std::move(run)) {}

  absl::StatusOr<BatchProgress> Run() {
    if (absl::Status valid = Validate(); !valid.ok()) return valid;
    const v1::Profile& profile = *run_.profile;
    table_ = profile.source().table();
    AddField(std::string(kSysId));
    AddField(std::string(kUpdatedOn));
    AddField(profile.source().key_field());
    target_field_ids_.push_back(profile.target().key_field_id());
    // In name order, so that the requests are the same from run to run.
    std::map<std::string, const v1::OutputField*> specs;
    for (const auto& [name, spec] : profile.fields()) specs.emplace(name, &spec);
    for (const auto& [name, spec_ptr] : specs) {
      const v1::OutputField& spec = *spec_ptr;
      AddField(spec.from());
      if (spec.to_field() != 0 && std::find(target_field_ids_.begin(), target_field_ids_.end(),
                                            spec.to_field()) == target_field_ids_.end()) {
        target_field_ids_.push_back(spec.to_field());
      }
    }
    progress_ = run_.progress;
    cursor_ = {progress_.cursor_updated_on(), progress_.cursor_sys_id()};

    const int limit = run_.options.page_size;
    // > 0 only while reading past rows the ACLs hide (see the header).
    int64_t offset = 0;
    while (true) {
      if (Cancelled()) return Cancel();
      absl::StatusOr<std::string> query =
          BatchPageQuery(run_.since, cursor_.updated_on, cursor_.sys_id);
      if (!query.ok()) return query.status();
      absl::StatusOr<TablePage> page = ReadPage(*query, offset, /*count=*/offset > 0);
      if (!page.ok()) return Stopped(page.status());
      if (page->rows.empty() && !page->total_count.has_value()) {
        // Empty: the end, or a page whose rows the ACLs all hide. The count (taken before ACLs)
        // tells them apart.
        page = ReadPage(*query, offset, /*count=*/true);
        if (!page.ok()) return Stopped(page.status());
      }
      if (page->rows.empty()) {
        if (page->total_count.has_value() && offset + limit < *page->total_count) {
          spdlog::info(
              "batch sync: {} rows {}..{} after the cursor are all hidden (by ACLs?); reading on",
              table_, offset + 1, offset + limit);
          offset += limit;
          continue;
        }
        break;
      }
      offset = 0;
      if (absl::Status done = RunPage(std::move(page->rows)); !done.ok()) return done;
    }
    spdlog::info(
        "batch sync done: table={} app={} mode={} seen={} created={} updated={} unchanged={} "
        "failed={} watermark=\"{}\"",
        table_, profile.target().app_id(), v1::SyncMode_Name(run_.mode), progress_.seen(),
        progress_.created(), progress_.updated(), progress_.unchanged(), progress_.failed(),
        progress_.cursor_updated_on());
    return progress_;
  }

 private:
  absl::Status Validate() const {
    if (run_.profile == nullptr || run_.engine == nullptr || run_.upstreams.servicenow == nullptr ||
        run_.upstreams.onspring == nullptr) {
      return absl::InvalidArgumentError(
          "a batch run needs a profile, an engine and both upstream clients");
    }
    if (run_.mode != v1::SYNC_MODE_WRITE_BACK && run_.mode != v1::SYNC_MODE_DRY_RUN) {
      return absl::InvalidArgumentError(absl::StrCat("a batch run's mode must be WRITE_BACK or ",
                                                     "DRY_RUN, not ",
                                                     v1::SyncMode_Name(run_.mode)));
    }
    const v1::Profile& profile = *run_.profile;
    if (profile.source().table().empty() || profile.source().key_field().empty()) {
      return absl::FailedPreconditionError("a batch run needs the profile's source table and key");
    }
    if (profile.target().app_id() <= 0 || profile.target().key_field_id() <= 0) {
      return absl::FailedPreconditionError(
          "a batch run needs the profile's target (app_id and key_field_id)");
    }
    const BatchOptions& options = run_.options;
    if (options.parallelism < 1 || options.parallelism > kMaxParallelism) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch parallelism must be in 1..", kMaxParallelism));
    }
    if (options.page_size < 1 || options.page_size > 10000) {
      return absl::InvalidArgumentError("batch page size must be in 1..10000");
    }
    if (options.call_timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("batch call timeout must be positive");
    }
    return BatchPageQuery(run_.since, run_.progress.cursor_updated_on(),
                          run_.progress.cursor_sys_id())
        .status();
  }

  void AddField(const std::string& field) {
    if (std::find(fields_.begin(), fields_.end(), field) == fields_.end()) {
      fields_.push_back(field);
    }
  }

  bool Cancelled() { return run_.cancelled != nullptr && run_.cancelled(); }

  absl::Status Cancel() {
    spdlog::info("batch sync cancelled: table={} seen={} cursor=({}, {})", table_, progress_.seen(),
                 progress_.cursor_updated_on(), progress_.cursor_sys_id());
    return absl::CancelledError("the batch run was cancelled");
  }

  absl::Status Stopped(absl::Status status) {
    spdlog::warn("batch sync stopped: table={} seen={} cursor=({}, {}): {}", table_,
                 progress_.seen(), progress_.cursor_updated_on(), progress_.cursor_sys_id(),
                 status);
    return status;
  }

  absl::Status Checkpoint() {
    if (run_.checkpoint == nullptr) return absl::OkStatus();
    absl::Status stored = run_.checkpoint(progress_);
    if (!stored.ok()) return Stopped(stored);
    return absl::OkStatus();
  }

  // The options of one upstream call starting now.
  clients::CallOptions CallFromNow() const {
    return clients::CallOptions(absl::Now() + run_.options.call_timeout, run_.traceparent);
  }

  absl::StatusOr<TablePage> ReadPage(const std::string& query, int64_t offset, bool count) {
    clients::servicenow::ListRequest request{
        .table = table_,
        .query = query,
        .fields = fields_,
        .limit = run_.options.page_size,
        .offset = offset,
        .no_count = !count,
        .call = CallFromNow(),
    };
    clients::servicenow::TableClient& client = *run_.upstreams.servicenow;
    return Await<TablePage>([&](auto done) { client.List(std::move(request), std::move(done)); });
  }

  // The page's rows in order, with their cursors; rows at or before the cursor are dropped.
  absl::StatusOr<std::vector<RowWork>> Order(std::vector<Row> rows) {
    std::vector<RowWork> works;
    works.reserve(rows.size());
    Cursor last = cursor_;
    int64_t behind = 0;
    for (Row& row : rows) {
      const std::optional<std::string_view> sys_id = row.Value(kSysId);
      const std::optional<std::string_view> updated_on = row.Value(kUpdatedOn);
      if (!sys_id.has_value() || sys_id->empty() || !updated_on.has_value() ||
          !IsServiceNowTime(*updated_on)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "ServiceNow returned a ", table_,
            " row without sys_id or a YYYY-MM-DD HH:MM:SS sys_updated_on (hidden by a field "
            "ACL?): the batch run cannot keep its place"));
      }
      Cursor cursor{std::string(*updated_on), std::string(*sys_id)};
      // ServiceNow drops query terms it cannot apply: never redo a row before the cursor.
      if (cursor <= cursor_ || (!run_.since.empty() && cursor.updated_on < run_.since)) {
        ++behind;
        continue;
      }
      if (cursor <= last) {
        return absl::FailedPreconditionError(absl::StrCat(
            "ServiceNow returned ", table_,
            " rows out of (sys_updated_on, sys_id) order: the batch run cannot keep its place"));
      }
      last = cursor;
      RowWork& work = works.emplace_back();
      work.row = std::move(row);
      work.cursor = std::move(cursor);
    }
    if (behind > 0) {
      spdlog::warn("batch sync: ServiceNow returned {} {} rows at or before the cursor; skipped",
                   behind, table_);
    }
    if (works.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ServiceNow returned only ", table_,
          " rows at or before the batch cursor: the instance did not apply the query"));
    }
    return works;
  }

  // Keys (a missing or repeated key fails its rows) and target records.
  absl::Status FindTargets(std::vector<RowWork>& works) {
    const v1::Profile& profile = *run_.profile;
    const std::string& key_field = profile.source().key_field();
    std::map<std::string, int, std::less<>> rows_per_key;
    for (RowWork& work : works) {
      const std::optional<std::string_view> key = work.row.Value(key_field);
      if (!key.has_value() || key->empty()) {
        work.error = absl::InvalidArgumentError(absl::StrCat("the row has no ", key_field));
        continue;
      }
      if (key->find('\0') != std::string_view::npos) {
        work.error =
            absl::InvalidArgumentError(absl::StrCat("the row's ", key_field, " contains NUL"));
        continue;
      }
      work.key = std::string(*key);
      ++rows_per_key[work.key];
    }
    std::vector<std::string> keys;
    for (RowWork& work : works) {
      if (!work.error.ok()) continue;
      const int rows = rows_per_key[work.key];
      if (rows > 1) {
        work.error = absl::AbortedError(absl::StrCat("ambiguous: ", rows, " ", table_,
                                                     " rows of one page have ", key_field, " = ",
                                                     Quote(work.key)));
        continue;
      }
      keys.push_back(work.key);
    }
    if (keys.empty()) return absl::OkStatus();

    const v1::Target& target = profile.target();
    absl::StatusOr<std::string> filter = clients::onspring::AnyOf(target.key_field_id(), keys);
    if (!filter.ok()) return filter.status();
    clients::onspring::OnspringClient& client = *run_.upstreams.onspring;
    absl::StatusOr<std::vector<Record>> records = Await<std::vector<Record>>([&](auto done) {
      client.QueryRecords(target.app_id(), *std::move(filter), target_field_ids_, CallFromNow(),
                          std::move(done));
    });
    if (!records.ok()) return records.status();
    // Onspring's eq may ignore case: only byte-equal keys count.
    std::map<std::string, std::vector<Record>, std::less<>> by_key;
    for (Record& record : *records) {
      auto field = record.fields.find(target.key_field_id());
      if (field == record.fields.end()) continue;
      std::optional<std::string> key = MatchText(field->second);
      if (!key.has_value() || !rows_per_key.contains(*key)) continue;
      by_key[*key].push_back(std::move(record));
    }
    for (RowWork& work : works) {
      if (!work.error.ok()) continue;
      auto found = by_key.find(work.key);
      if (found == by_key.end()) continue;
      if (found->second.size() > 1) {
        work.error = absl::AbortedError(
            absl::StrCat("ambiguous: more than one record of Onspring app ", target.app_id(),
                         " has field ", target.key_field_id(), " = ", Quote(work.key), " (records ",
                         found->second[0].record_id, " and ", found->second[1].record_id, ")"));
        continue;
      }
      work.target = found->second.front();
      work.had_target = true;
    }
    return absl::OkStatus();
  }

  // One page: targets, the rows' syncs, counters, checkpoint.
  absl::Status RunPage(std::vector<Row> rows) {
    absl::StatusOr<std::vector<RowWork>> works = Order(std::move(rows));
    if (!works.ok()) return Stopped(works.status());
    // The page's references are looked up with one query per referenced app, at the same time
    // as its target records; the rows' runs then find them in the cache.
    std::vector<const Row*> page_rows;
    for (const RowWork& work : *works) page_rows.push_back(&work.row);
    std::promise<absl::Status> prefetched;
    run_.engine->PrefetchReferences(
        *run_.profile, run_.upstreams, page_rows, CallFromNow(),
        [&prefetched](absl::Status status) { prefetched.set_value(std::move(status)); });
    absl::Status found = FindTargets(*works);
    absl::Status references = prefetched.get_future().get();
    if (!found.ok()) return Stopped(found);
    if (!references.ok()) return Stopped(references);

    auto state = std::make_shared<PageState>();
    state->rows = *std::move(works);
    const size_t count = state->rows.size();
    size_t dispatched = 0;
    bool cancelled = false;
    for (size_t i = 0; i < count; ++i) {
      {
        std::unique_lock<std::mutex> lock(state->mu);
        state->changed.wait(
            lock, [&] { return state->stop || state->running < run_.options.parallelism; });
        if (state->stop) break;
      }
      if (Cancelled()) {
        cancelled = true;
        break;
      }
      RowWork& work = state->rows[i];
      dispatched = i + 1;
      if (!work.error.ok()) continue;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        ++state->running;
      }
      // The callback may run inline: no lock is held here.
      run_.engine->RunForRow(run_.profile, run_.upstreams, std::move(work.row),
                             std::move(work.target), run_.mode, CallFromNow(),
                             [state, i](absl::StatusOr<SyncResult> result) {
                               std::lock_guard<std::mutex> lock(state->mu);
                               if (!result.ok() && StopsTheRun(result.status())) {
                                 state->stop = true;
                               }
                               state->rows[i].result = std::move(result);
                               --state->running;
                               state->changed.notify_all();
                             });
    }
    {
      std::unique_lock<std::mutex> lock(state->mu);
      state->changed.wait(lock, [&] { return state->running == 0; });
    }

    // Every callback has run: the rows are this thread's again.
    BatchProgress page;
    for (size_t i = 0; i < dispatched; ++i) {
      const RowWork& work = state->rows[i];
      absl::Status status = work.error;
      if (status.ok() && work.result.has_value() && !work.result->ok()) {
        status = work.result->status();
        if (StopsTheRun(status)) {
          // The page is not checkpointed: the caller's retry redoes it.
          return Stopped(status);
        }
      }
      page.set_seen(page.seen() + 1);
      if (!status.ok()) {
        page.set_failed(page.failed() + 1);
        spdlog::warn("batch sync: {} row sys_id={} key={} failed: {}", table_, work.cursor.sys_id,
                     Quote(work.key), status);
        continue;
      }
      const SyncResult& result = **work.result;
      const bool writes =
          run_.mode == v1::SYNC_MODE_DRY_RUN ? result.changes_size() > 0 : result.written();
      if (!writes) {
        page.set_unchanged(page.unchanged() + 1);
      } else if (work.had_target) {
        page.set_updated(page.updated() + 1);
      } else {
        page.set_created(page.created() + 1);
      }
    }
    if (dispatched > 0) {
      progress_.set_seen(progress_.seen() + page.seen());
      progress_.set_created(progress_.created() + page.created());
      progress_.set_updated(progress_.updated() + page.updated());
      progress_.set_unchanged(progress_.unchanged() + page.unchanged());
      progress_.set_failed(progress_.failed() + page.failed());
      cursor_ = state->rows[dispatched - 1].cursor;
      progress_.set_cursor_updated_on(cursor_.updated_on);
      progress_.set_cursor_sys_id(cursor_.sys_id);
      spdlog::debug(
          "batch sync page: table={} rows={} created={} updated={} unchanged={} failed={} "
          "cursor=({}, {})",
          table_, page.seen(), page.created(), page.updated(), page.unchanged(), page.failed(),
          cursor_.updated_on, cursor_.sys_id);
      if (absl::Status stored = Checkpoint(); !stored.ok()) return stored;
    }
    if (cancelled) return Cancel();
    return absl::OkStatus();
  }

  BatchRun run_;
  std::string table_;
  // sysparm_fields: sys_id, sys_updated_on, the key field and every output field's `from`.
  std::vector<std::string> fields_;
  // The target query's fieldIds: the key field and every to_field.
  std::vector<int> target_field_ids_;
  BatchProgress progress_;
  Cursor cursor_;
};

}  // namespace

absl::StatusOr<std::string> BatchPageQuery(std::string_view since,
                                           std::string_view cursor_updated_on,
                                           std::string_view cursor_sys_id) {
  if (!since.empty() && !IsServiceNowTime(since)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "since must be ServiceNow's YYYY-MM-DD HH:MM:SS (UTC), not \"", ToAbsl(since), "\""));
  }
  if (!cursor_updated_on.empty() && !IsServiceNowTime(cursor_updated_on)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the batch cursor's sys_updated_on must be YYYY-MM-DD HH:MM:SS, not \"",
                     ToAbsl(cursor_updated_on), "\""));
  }
  if (cursor_updated_on.empty() && !cursor_sys_id.empty()) {
    return absl::InvalidArgumentError("the batch cursor has a sys_id without its sys_updated_on");
  }
  EncodedQuery filter;
  if (cursor_updated_on.empty()) return EncodedQuery::AfterCursor(filter, since, "");
  // Every row after a cursor this runner wrote is at or after `since` already.
  if (!since.empty() && cursor_updated_on < since) filter.GreaterOrEquals(kUpdatedOn, since);
  return EncodedQuery::AfterCursor(filter, cursor_updated_on, cursor_sys_id);
}

absl::StatusOr<BatchProgress> RunBatch(BatchRun run) { return BatchRunner(std::move(run)).Run(); }

}  // namespace onsync::engine
