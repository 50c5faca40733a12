#include "server/engine/field_catalog.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/string_view.h"

namespace onsync::engine {
namespace {

using clients::onspring::Field;
using clients::onspring::OnspringClient;

// List values added by this process are remembered this long even when the cache is off, so that
// an event that read the metadata before another event's add does not add the value again.
constexpr absl::Duration kRecentAdds = absl::Minutes(10);
constexpr size_t kRecentAddsMax = 10000;

std::string AppKey(std::string_view scope, int app_id) {
  return absl::StrCat(ToAbsl(scope), absl::string_view("\0", 1), app_id);
}

}  // namespace

std::optional<std::string> ListValueId(const Field& field, std::string_view name) {
  for (const auto& value : field.values) {
    if (value.name == name) return value.id;
  }
  return std::nullopt;
}

FieldCatalog::FieldCatalog(const clients::Clock& clock, CacheOptions options)
    : cache_(clock, options.ttl, options.max_entries),
      recently_added_(clock, kRecentAdds, kRecentAddsMax) {}

void FieldCatalog::Get(OnspringClient& client, std::string_view scope, int app_id,
                       const clients::CallOptions& call, Callback<AppFields> done) {
  std::string key = AppKey(scope, app_id);
  if (std::optional<AppFields> fields = cache_.Get(key)) return std::move(done)(*fields);
  reads_.Do(key, std::move(done),
            [this, &client, key, app_id, call](SingleFlight<AppFields>::Finish finish) {
              client.GetFieldsByApp(app_id, call,
                                    [this, key, finish = std::move(finish)](
                                        absl::StatusOr<std::vector<Field>> fields) mutable {
                                      if (!fields.ok()) return std::move(finish)(fields.status());
                                      auto by_id = std::make_shared<std::map<int, Field>>();
                                      for (Field& field : *fields)
                                        by_id->emplace(field.id, std::move(field));
                                      AppFields result = std::move(by_id);
                                      cache_.Put(key, result);
                                      std::move(finish)(std::move(result));
                                    });
            });
}

void FieldCatalog::AddListValueOnce(OnspringClient& client, std::string_view scope, int app_id,
                                    int list_id, std::string name, const clients::CallOptions& call,
                                    Callback<std::string> done) {
  std::string key = absl::StrCat(ToAbsl(scope), absl::string_view("\0", 1), "list/", list_id,
                                 absl::string_view("\0", 1), name);
  if (std::optional<std::string> id = recently_added_.Get(key)) return std::move(done)(*id);
  adds_.Do(key, std::move(done),
           [this, &client, key, app_key = AppKey(scope, app_id), list_id, name = std::move(name),
            call](SingleFlight<std::string>::Finish finish) mutable {
             // An add that ended between the check above and this flight left its value.
             if (std::optional<std::string> id = recently_added_.Get(key)) {
               return std::move(finish)(*id);
             }
             client.AddListValue(list_id, std::move(name), call,
                                 [this, key, app_key, finish = std::move(finish)](
                                     absl::StatusOr<std::string> id) mutable {
                                   if (id.ok()) {
                                     recently_added_.Put(key, *id);
                                     cache_.Erase(app_key);
                                   }
                                   std::move(finish)(std::move(id));
                                 });
           });
}

}  // namespace onsync::engine
