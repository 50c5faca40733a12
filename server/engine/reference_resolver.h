// Reference resolution: a value (a user's full name, a regulation id) -> the id of the Onspring
// record whose match field equals it exactly, batched, cached and created once.
//
// Contracts:
//   - Find answers every value it can from the cache and asks Onspring about the rest in ONE
//     query (`f eq 'a' or f eq 'b' …`), re-checking each returned record byte for byte (Onspring's
//     `eq` may ignore case; its quote escaping is undocumented). Found ids are cached.
//   - Two records with one match value are a conflict: ABORTED naming the app, field and value.
//   - CreateOnce creates a missing record at most once per (scope, app, field, value) at a time:
//     concurrent callers join the create in progress; a caller arriving later reuses the record
//     from the cache or from the list of records created in the last 10 minutes (kept even when
//     the cache is off), so that events racing on one missing record never create two.
//   - Across processes: with a CreateLock (PostgreSQL configured), the flight's leader acquires
//     the cross-process lock of the key (bounded by the call's deadline), then RE-CHECKS by
//     querying Onspring for the exact value (bypassing the cache: another replica may have
//     created the record meanwhile), creates only if the record is still missing, and releases
//     the lock once the create has answered. Without a CreateLock nothing of this happens.
//   - `scope` names the Onspring tenant (base URL and API key fingerprint): ids from one tenant
//     are never served to another.
//
// Thread safety: thread-safe. Callbacks run on transport threads (or inline, when everything was
// cached); they must not block. The resolver and the client must outlive pending callbacks.
#ifndef ONSYNC_SERVER_ENGINE_REFERENCE_RESOLVER_H_
#define ONSYNC_SERVER_ENGINE_REFERENCE_RESOLVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "clients/onspring/onspring_client.h"
#include "server/engine/create_lock.h"
#include "server/engine/single_flight.h"
#include "server/engine/ttl_cache.h"

namespace onsync::engine {

struct CacheOptions {
  absl::Duration ttl = absl::Minutes(5);
  size_t max_entries = 100000;
};

// The text of a record's match-field value, for exact comparison: strings, dates and GUIDs as
// they are, integers in decimal; nullopt for null, lists and other shapes.
std::optional<std::string> MatchText(const clients::onspring::FieldValue& value);

struct CreateResult {
  int64_t record_id = 0;
  // True for the one caller whose request created the record; false for callers that joined that
  // create or reused a record created or found earlier.
  bool created_here = false;
};

class ReferenceResolver {
 public:
  // value -> record id, for the values that matched.
  using Matches = std::map<std::string, int64_t, std::less<>>;
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

  // `create_lock` null: creates are single-flight within this process only.
  ReferenceResolver(const clients::Clock& clock, CacheOptions options,
                    std::shared_ptr<CreateLock> create_lock = nullptr);

  void Find(clients::onspring::OnspringClient& client, std::string_view scope, int app_id,
            int match_field_id, std::vector<std::string> values, const clients::CallOptions& call,
            Callback<Matches> done);

  // `fields` are the new record's fields (the caller renders them from the profile's create
  // templates).
  void CreateOnce(clients::onspring::OnspringClient& client, std::string_view scope, int app_id,
                  int match_field_id, std::string value,
                  std::map<int, clients::onspring::FieldValue> fields,
                  const clients::CallOptions& call, Callback<CreateResult> done);

  CacheStats cache_stats() const { return cache_.stats(); }

 private:
  static std::string Key(std::string_view scope, int app_id, int match_field_id,
                         std::string_view value);
  std::optional<int64_t> Known(const std::string& key);
  // The id of the one record of `app_id` whose field equals `value` exactly, read from Onspring
  // (never the cache); nullopt when there is none; ABORTED when there are several.
  void QueryOne(clients::onspring::OnspringClient& client, int app_id, int match_field_id,
                const std::string& value, const clients::CallOptions& call,
                Callback<std::optional<int64_t>> done);
  // Creates the record and remembers it (the flight's last step).
  void Save(clients::onspring::OnspringClient& client, const std::string& key, int app_id,
            std::map<int, clients::onspring::FieldValue> fields, const clients::CallOptions& call,
            std::shared_ptr<bool> created_here, SingleFlight<int64_t>::Finish finish,
            std::unique_ptr<CreateLock::Held> held);

  TtlCache<int64_t> cache_;
  TtlCache<int64_t> recently_created_;
  SingleFlight<int64_t> creates_;
  const std::shared_ptr<CreateLock> create_lock_;
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_REFERENCE_RESOLVER_H_
