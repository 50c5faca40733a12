// Field metadata of Onspring apps (onspring-api.md §2.2), for list value resolution: a list value
// name -> its id (GUID) in the list of the field it is written to.
//
// Contracts:
//   - Get reads an app's fields once per cache TTL per tenant (`scope`); concurrent callers on a
//     cold cache share one read (single-flight).
//   - AddListValueOnce adds a missing value to a list at most once per (scope, list, name):
//     concurrent callers join the add in progress, later ones (10 minutes) reuse its id; the app's
//     cached metadata is dropped, so the next Get sees the value.
//
// Thread safety: thread-safe. Callbacks run on transport threads (or inline from the cache); they
// must not block. The catalog and the client must outlive pending callbacks.
#ifndef ONSYNC_SERVER_ENGINE_FIELD_CATALOG_H_
#define ONSYNC_SERVER_ENGINE_FIELD_CATALOG_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/http/scheduler.h"
#include "clients/onspring/onspring_client.h"
#include "server/engine/reference_resolver.h"
#include "server/engine/single_flight.h"
#include "server/engine/ttl_cache.h"

namespace onsync::engine {

// An app's fields by id. Immutable once built.
using AppFields = std::shared_ptr<const std::map<int, clients::onspring::Field>>;

// The id of the list value named exactly `name` in `field`, or nullopt.
std::optional<std::string> ListValueId(const clients::onspring::Field& field,
                                       std::string_view name);

class FieldCatalog {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

  FieldCatalog(const clients::Clock& clock, CacheOptions options);

  void Get(clients::onspring::OnspringClient& client, std::string_view scope, int app_id,
           const clients::CallOptions& call, Callback<AppFields> done);

  // Returns the new value's id.
  void AddListValueOnce(clients::onspring::OnspringClient& client, std::string_view scope,
                        int app_id, int list_id, std::string name, const clients::CallOptions& call,
                        Callback<std::string> done);

  CacheStats cache_stats() const { return cache_.stats(); }

 private:
  TtlCache<AppFields> cache_;
  TtlCache<std::string> recently_added_;
  SingleFlight<AppFields> reads_;
  SingleFlight<std::string> adds_;
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_FIELD_CATALOG_H_
