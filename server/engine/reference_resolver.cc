#include "server/engine/reference_resolver.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "clients/onspring/filter.h"
#include "common/string_view.h"

namespace onsync::engine {
namespace {

using clients::onspring::FieldValue;
using clients::onspring::OnspringClient;
using clients::onspring::Record;

// Records created by this process are remembered this long even when the cache is off, so that
// an event whose lookup raced with another event's create reuses that record.
constexpr absl::Duration kRecentCreates = absl::Minutes(10);
constexpr size_t kRecentCreatesMax = 10000;

}  // namespace

std::optional<std::string> MatchText(const FieldValue& value) {
  switch (value.type) {
    case FieldValue::Type::kString:
    case FieldValue::Type::kDate:
    case FieldValue::Type::kGuid:
      return value.text;
    case FieldValue::Type::kInteger:
      return absl::StrCat(value.integer);
    default:
      return std::nullopt;
  }
}

ReferenceResolver::ReferenceResolver(const clients::Clock& clock, CacheOptions options,
                                     std::shared_ptr<CreateLock> create_lock)
    : cache_(clock, options.ttl, options.max_entries),
      recently_created_(clock, kRecentCreates, kRecentCreatesMax),
      create_lock_(std::move(create_lock)) {}

std::string ReferenceResolver::Key(std::string_view scope, int app_id, int match_field_id,
                                   std::string_view value) {
  // NUL cannot occur in a scope or in a value (the filter builder rejects it).
  return absl::StrCat(ToAbsl(scope), absl::string_view("\0", 1), app_id, "/", match_field_id,
                      absl::string_view("\0", 1), ToAbsl(value));
}

std::optional<int64_t> ReferenceResolver::Known(const std::string& key) {
  if (std::optional<int64_t> id = cache_.Get(key)) return id;
  return recently_created_.Get(key);
}

void ReferenceResolver::Find(OnspringClient& client, std::string_view scope, int app_id,
                             int match_field_id, std::vector<std::string> values,
                             const clients::CallOptions& call, Callback<Matches> done) {
  Matches matches;
  std::vector<std::string> unknown;
  std::set<std::string, std::less<>> seen;
  for (std::string& value : values) {
    if (!seen.insert(value).second) continue;
    if (std::optional<int64_t> id = Known(Key(scope, app_id, match_field_id, value))) {
      matches.emplace(std::move(value), *id);
    } else {
      unknown.push_back(std::move(value));
    }
  }
  if (unknown.empty()) return std::move(done)(std::move(matches));
  absl::StatusOr<std::string> filter = clients::onspring::AnyOf(match_field_id, unknown);
  if (!filter.ok()) return std::move(done)(filter.status());
  client.QueryRecords(
      app_id, *std::move(filter), {match_field_id}, call,
      [this, scope = std::string(scope), app_id, match_field_id, matches = std::move(matches),
       wanted = std::set<std::string, std::less<>>(unknown.begin(), unknown.end()),
       done = std::move(done)](absl::StatusOr<std::vector<Record>> records) mutable {
        if (!records.ok()) return std::move(done)(records.status());
        Matches found;
        for (const Record& record : *records) {
          auto field = record.fields.find(match_field_id);
          if (field == record.fields.end()) continue;
          std::optional<std::string> text = MatchText(field->second);
          // Exact re-check: Onspring may have matched without regard to case or whitespace.
          if (!text.has_value() || !wanted.contains(*text)) continue;
          if (auto [it, inserted] = found.emplace(*text, record.record_id); !inserted) {
            return std::move(done)(absl::AbortedError(absl::StrCat(
                "ambiguous: more than one record of Onspring app ", app_id, " has field ",
                match_field_id, " = \"", ToAbsl(std::string_view(*text).substr(0, 200)),
                "\" (records ", it->second, " and ", record.record_id, ")")));
          }
        }
        for (auto& [value, id] : found) {
          cache_.Put(Key(scope, app_id, match_field_id, value), id);
          matches.emplace(value, id);
        }
        std::move(done)(std::move(matches));
      });
}

void ReferenceResolver::CreateOnce(OnspringClient& client, std::string_view scope, int app_id,
                                   int match_field_id, std::string value,
                                   std::map<int, FieldValue> fields,
                                   const clients::CallOptions& call, Callback<CreateResult> done) {
  std::string key = Key(scope, app_id, match_field_id, value);
  if (std::optional<int64_t> id = Known(key)) return std::move(done)(CreateResult{*id, false});
  // Set by the flight's leader when its request creates the record. Written before `finish`,
  // read after it: SingleFlight's lock orders the two.
  auto created_here = std::make_shared<bool>(false);
  creates_.Do(
      key,
      [created_here, done = std::move(done)](absl::StatusOr<int64_t> id) mutable {
        if (!id.ok()) return std::move(done)(id.status());
        std::move(done)(CreateResult{*id, *created_here});
      },
      [this, &client, key, app_id, match_field_id, value = std::move(value),
       fields = std::move(fields), call,
       created_here](SingleFlight<int64_t>::Finish finish) mutable {
        // A create that ended between the check above and this flight left its record.
        if (std::optional<int64_t> id = Known(key)) return std::move(finish)(*id);
        if (create_lock_ == nullptr) {
          return Save(client, key, app_id, std::move(fields), call, created_here, std::move(finish),
                      nullptr);
        }
        // Across replicas: under the key's lock, look again (another replica may have created
        // the record since this event's lookup, or while this one waited), then create.
        create_lock_->Acquire(
            key, call.deadline,
            [this, &client, key, app_id, match_field_id, value = std::move(value),
             fields = std::move(fields), call, created_here, finish = std::move(finish)](
                absl::StatusOr<std::unique_ptr<CreateLock::Held>> held) mutable {
              if (!held.ok()) return std::move(finish)(held.status());
              QueryOne(client, app_id, match_field_id, value, call,
                       [this, &client, key, app_id, fields = std::move(fields), call, created_here,
                        finish = std::move(finish), held = *std::move(held)](
                           absl::StatusOr<std::optional<int64_t>> existing) mutable {
                         if (!existing.ok()) return std::move(finish)(existing.status());
                         if (existing->has_value()) {
                           cache_.Put(key, **existing);
                           held.reset();  // released before the joined callers run
                           return std::move(finish)(**existing);
                         }
                         Save(client, key, app_id, std::move(fields), call, created_here,
                              std::move(finish), std::move(held));
                       });
            });
      });
}

void ReferenceResolver::QueryOne(OnspringClient& client, int app_id, int match_field_id,
                                 const std::string& value, const clients::CallOptions& call,
                                 Callback<std::optional<int64_t>> done) {
  absl::StatusOr<std::string> filter = clients::onspring::AnyOf(match_field_id, {value});
  if (!filter.ok()) return std::move(done)(filter.status());
  client.QueryRecords(
      app_id, *std::move(filter), {match_field_id}, call,
      [app_id, match_field_id, value,
       done = std::move(done)](absl::StatusOr<std::vector<Record>> records) mutable {
        if (!records.ok()) return std::move(done)(records.status());
        std::optional<int64_t> found;
        for (const Record& record : *records) {
          auto field = record.fields.find(match_field_id);
          if (field == record.fields.end()) continue;
          std::optional<std::string> text = MatchText(field->second);
          if (!text.has_value() || *text != value) continue;  // exact re-check
          if (found.has_value()) {
            return std::move(done)(absl::AbortedError(absl::StrCat(
                "ambiguous: more than one record of Onspring app ", app_id, " has field ",
                match_field_id, " = \"", ToAbsl(std::string_view(value).substr(0, 200)),
                "\" (records ", *found, " and ", record.record_id, ")")));
          }
          found = record.record_id;
        }
        std::move(done)(found);
      });
}

void ReferenceResolver::Save(OnspringClient& client, const std::string& key, int app_id,
                             std::map<int, FieldValue> fields, const clients::CallOptions& call,
                             std::shared_ptr<bool> created_here,
                             SingleFlight<int64_t>::Finish finish,
                             std::unique_ptr<CreateLock::Held> held) {
  client.SaveRecord(app_id, 0, std::move(fields), call,
                    [this, key, created_here, finish = std::move(finish), held = std::move(held)](
                        absl::StatusOr<clients::onspring::SaveResult> saved) mutable {
                      // The create answered (created, or failed): others may look now. A create
                      // whose outcome is unknown (a timeout) may still land after the release;
                      // a replica that then looks and creates makes a duplicate, which Find
                      // reports as ABORTED (ambiguous) rather than hiding.
                      held.reset();
                      if (!saved.ok()) return std::move(finish)(saved.status());
                      cache_.Put(key, saved->id);
                      recently_created_.Put(key, saved->id);
                      *created_here = true;
                      std::move(finish)(saved->id);
                    });
}

}  // namespace onsync::engine
