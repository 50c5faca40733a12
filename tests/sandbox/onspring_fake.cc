#include "tests/sandbox/onspring_fake.h"

#include <algorithm>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/string_view.h"
#include "tests/sandbox/faults.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/onspring_filter.h"
#include "tests/sandbox/url.h"

namespace onsync::sandbox {
namespace {

constexpr char kJsonType[] = "application/json; charset=utf-8";
constexpr int64_t kMaxPageSize = 1000;
constexpr size_t kMaxBatch = 100;

http::Response Empty(int status) {
  http::Response response;
  response.status = status;
  response.content_type.clear();
  return response;
}

http::Response Json(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.content_type = kJsonType;
  response.body = std::move(body);
  return response;
}

http::Response Message(int status, std::string_view message) {
  JsonWriter out;
  out.StartObject().Member("message", message).EndObject();
  return Json(status, out.str());
}

http::Response NoAccess(int64_t app_id, bool write) {
  return Message(403, absl::StrCat("Client does not have access to ", write ? "write" : "read",
                                   " app: ", app_id));
}

// Lower-cased path segments (for matching) and the originals (for ids).
struct OsPath {
  std::vector<std::string> lower;
  std::vector<std::string> raw;

  bool Is(std::initializer_list<std::string_view> pattern) const {
    if (pattern.size() != lower.size()) return false;
    size_t i = 0;
    for (std::string_view part : pattern) {
      if (part != "*" && part != lower[i]) return false;
      ++i;
    }
    return true;
  }
};

OsPath ParseOsPath(std::string_view path) {
  OsPath parsed;
  parsed.raw = PathSegments(path);
  for (const std::string& segment : parsed.raw) {
    parsed.lower.push_back(absl::AsciiStrToLower(segment));
  }
  return parsed;
}

std::optional<int64_t> ParseId(std::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(ToAbsl(text), &id)) return std::nullopt;
  return id;
}

struct Paging {
  int64_t number = 1;
  int64_t size = 50;
};

std::variant<Paging, http::Response> ParsePaging(const std::vector<QueryParam>& params) {
  Paging paging;
  if (auto text = FindParam(params, "pagenumber", /*ignore_case=*/true); text.has_value()) {
    if (!absl::SimpleAtoi(*text, &paging.number) || paging.number < 1) {
      return Message(400, "PageNumber must be an integer greater than 0.");
    }
  }
  if (auto text = FindParam(params, "pagesize", /*ignore_case=*/true); text.has_value()) {
    if (!absl::SimpleAtoi(*text, &paging.size) || paging.size < 1 || paging.size > kMaxPageSize) {
      return Message(400, "PageSize must be an integer between 1 and 1000.");
    }
  }
  return paging;
}

// {"pageNumber", "pageSize", "totalPages", "totalRecords", "items": [write(i) for the page]}.
template <typename WriteItem>
std::string Envelope(const Paging& paging, int64_t total, WriteItem write_item) {
  JsonWriter out;
  const int64_t pages = total == 0 ? 0 : (total + paging.size - 1) / paging.size;
  out.StartObject()
      .Member("pageNumber", paging.number)
      .Member("pageSize", paging.size)
      .Member("totalPages", pages)
      .Member("totalRecords", total)
      .Key("items")
      .StartArray();
  const int64_t first = (paging.number - 1) * paging.size;
  for (int64_t i = first; i < total && i < first + paging.size; ++i) write_item(out, i);
  out.EndArray().EndObject();
  return out.str();
}

// dataFormat as a name ("Raw"/"Formatted", any case) or an integer (0/1). nullopt: invalid.
std::optional<bool> ParseFormatted(const rapidjson::Value* value) {
  if (value == nullptr || value->IsNull()) return false;
  if (value->IsInt()) {
    if (value->GetInt() == 0 || value->GetInt() == 1) return value->GetInt() == 1;
    return std::nullopt;
  }
  if (value->IsString()) {
    if (absl::EqualsIgnoreCase(ToAbsl(View(*value)), "raw") || View(*value) == "0") return false;
    if (absl::EqualsIgnoreCase(ToAbsl(View(*value)), "formatted") || View(*value) == "1") {
      return true;
    }
  }
  return std::nullopt;
}

std::optional<bool> ParseFormattedParam(const std::vector<QueryParam>& params) {
  const std::optional<std::string> text = FindParam(params, "dataformat", true);
  if (!text.has_value()) return false;
  rapidjson::Value value(text->c_str(), static_cast<rapidjson::SizeType>(text->size()));
  return ParseFormatted(&value);
}

// fieldIds as "1,2,3" (query) -> ids; nullopt when malformed.
std::optional<std::vector<int64_t>> ParseFieldIdsParam(const std::vector<QueryParam>& params) {
  std::vector<int64_t> ids;
  const std::optional<std::string> text = FindParam(params, "fieldids", true);
  if (!text.has_value()) return ids;
  for (absl::string_view part : absl::StrSplit(*text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    int64_t id = 0;
    if (!absl::SimpleAtoi(part, &id)) return std::nullopt;
    ids.push_back(id);
  }
  return ids;
}

// An int array member (fieldIds, recordIds); nullopt when present but malformed.
std::optional<std::vector<int64_t>> IntArray(const rapidjson::Value* value) {
  std::vector<int64_t> ids;
  if (value == nullptr || value->IsNull()) return ids;
  if (!value->IsArray()) return std::nullopt;
  for (const rapidjson::Value& item : value->GetArray()) {
    if (!item.IsInt64()) return std::nullopt;
    ids.push_back(item.GetInt64());
  }
  return ids;
}

}  // namespace

http::Response OnspringFake::FaultResponse(int status, bool html, int64_t retry_after_s) {
  http::Response response;
  if (html) {
    response.status = status;
    response.content_type = "text/html";
    response.body = HtmlErrorPage(status);
  } else if (status == 401) {
    response = Empty(401);
  } else {
    response = Message(status, ReasonPhrase(status));
  }
  if (retry_after_s > 0 && (status == 429 || status == 503)) {
    response.headers.emplace_back("Retry-After", absl::StrCat(retry_after_s));
  }
  return response;
}

std::string OnspringFake::RouteOf(std::string_view method, std::string_view path) {
  const OsPath p = ParseOsPath(path);
  std::string route = "(unknown)";
  if (p.Is({"ping"})) route = "/Ping";
  if (p.Is({"apps"})) route = "/Apps";
  if (p.Is({"apps", "id", "*"})) route = "/Apps/id/{appId}";
  if (p.Is({"apps", "batch-get"})) route = "/Apps/batch-get";
  if (p.Is({"fields", "id", "*"})) route = "/Fields/id/{fieldId}";
  if (p.Is({"fields", "batch-get"})) route = "/Fields/batch-get";
  if (p.Is({"fields", "appid", "*"})) route = "/Fields/appId/{appId}";
  if (p.Is({"lists", "id", "*", "items"})) route = "/Lists/id/{listId}/items";
  if (p.Is({"lists", "id", "*", "itemid", "*"})) route = "/Lists/id/{listId}/itemId/{itemId}";
  if (p.Is({"records", "appid", "*"})) route = "/Records/appId/{appId}";
  if (p.Is({"records", "appid", "*", "recordid", "*"})) {
    route = "/Records/appId/{appId}/recordId/{recordId}";
  }
  if (p.Is({"records", "batch-get"})) route = "/Records/batch-get";
  if (p.Is({"records", "query"})) route = "/Records/Query";
  if (p.Is({"records"})) route = "/Records";
  if (p.Is({"records", "batch-delete"})) route = "/Records/batch-delete";
  return absl::StrCat(absl::AsciiStrToUpper(ToAbsl(method)), " ", route);
}

absl::StatusOr<std::unique_ptr<OnspringFake>> OnspringFake::Create(const rapidjson::Value& seed) {
  std::unique_ptr<OnspringFake> fake(new OnspringFake());
  if (absl::Status status = fake->Reset(seed); !status.ok()) return status;
  return fake;
}

absl::Status OnspringFake::Reset(const rapidjson::Value& seed) {
  absl::StatusOr<OsStore> store = OsStore::FromSeed(seed);
  if (!store.ok()) return store.status();
  std::map<std::string, ApiKey> keys;
  if (const rapidjson::Value* list = FindMember(seed, "api_keys");
      list != nullptr && list->IsArray()) {
    for (const rapidjson::Value& entry : list->GetArray()) {
      const std::optional<std::string> key = GetString(entry, "key");
      if (!key.has_value() || key->empty()) {
        return absl::InvalidArgumentError("onspring.api_keys[]: missing \"key\"");
      }
      ApiKey api_key;
      api_key.read_only = GetBool(entry, "read_only").value_or(false);
      if (const rapidjson::Value* apps = FindMember(entry, "apps");
          apps != nullptr && apps->IsArray()) {
        api_key.apps.emplace();
        for (const rapidjson::Value& app : apps->GetArray()) {
          if (app.IsInt64()) api_key.apps->insert(app.GetInt64());
        }
      }
      keys[*key] = std::move(api_key);
    }
  }
  absl::MutexLock lock(&mu_);
  store_ = *std::move(store);
  keys_ = std::move(keys);
  case_sensitive_ = GetBool(seed, "case_sensitive").value_or(false);
  return absl::OkStatus();
}

void OnspringFake::SetOrigin(std::string origin) {
  absl::MutexLock lock(&mu_);
  origin_ = std::move(origin);
}

void OnspringFake::SetSaveListener(SaveListener* listener) { listener_ = listener; }

void OnspringFake::WithStore(const std::function<void(const OsStore&)>& fn) const {
  absl::MutexLock lock(&mu_);
  fn(store_);
}

std::optional<http::Response> OnspringFake::CheckAccess(const ApiKey& key, int64_t app_id,
                                                        bool write) const {
  if (store_.FindApp(app_id) == nullptr) return NoAccess(app_id, write);
  if (key.apps.has_value() && key.apps->count(app_id) == 0) return NoAccess(app_id, write);
  if (write && key.read_only) return NoAccess(app_id, write);
  return std::nullopt;
}

FakeResult OnspringFake::Handle(const http::Request& request) {
  FakeResult result;
  result.route = RouteOf(request.method, request.path);
  const OsPath path = ParseOsPath(request.path);
  if (path.Is({"ping"}) && (request.method == "GET" || request.method == "HEAD")) {
    result.response = Empty(200);
    return result;
  }
  absl::AnyInvocable<void() &&> after;
  {
    absl::MutexLock lock(&mu_);
    const std::optional<std::string_view> header = request.Header("x-apikey");
    const auto key = header.has_value() ? keys_.find(std::string(*header)) : keys_.end();
    if (key == keys_.end()) {
      result.response = Empty(401);
      return result;
    }
    result.response = Route(request, key->second, &after);
  }
  // Outcomes are dispatched only once the store is unlocked.
  if (after) std::move(after)();
  return result;
}

http::Response OnspringFake::Route(const http::Request& request, const ApiKey& key,
                                   absl::AnyInvocable<void() &&>* after) {
  const OsPath p = ParseOsPath(request.path);
  const std::vector<QueryParam> params = ParseQuery(request.query);
  const std::string& method = request.method;
  auto body_json = [&]() { return ParseJson(request.body); };
  auto accessible = [&](int64_t app_id) { return !CheckAccess(key, app_id, false).has_value(); };

  // ---- Apps ----
  if (p.Is({"apps"})) {
    if (method != "GET") return Empty(405);
    auto paging = ParsePaging(params);
    if (auto* error = std::get_if<http::Response>(&paging)) return std::move(*error);
    std::vector<const OsApp*> apps;
    for (const auto& [id, app] : store_.apps()) {
      if (accessible(id)) apps.push_back(&app);
    }
    return Json(200, Envelope(std::get<Paging>(paging), static_cast<int64_t>(apps.size()),
                              [&](JsonWriter& out, int64_t i) {
                                out.StartObject()
                                    .Member("href", absl::StrCat(origin_, "/Apps/id/", apps[i]->id))
                                    .Member("id", apps[i]->id)
                                    .Member("name", apps[i]->name)
                                    .EndObject();
                              }));
  }
  if (p.Is({"apps", "id", "*"})) {
    if (method != "GET") return Empty(405);
    const std::optional<int64_t> id = ParseId(p.raw[2]);
    const OsApp* app = id.has_value() ? store_.FindApp(*id) : nullptr;
    if (app == nullptr) return Empty(404);
    if (auto denied = CheckAccess(key, app->id, false)) return *std::move(denied);
    JsonWriter out;
    out.StartObject()
        .Member("href", absl::StrCat(origin_, "/Apps/id/", app->id))
        .Member("id", app->id)
        .Member("name", app->name)
        .EndObject();
    return Json(200, out.str());
  }
  if (p.Is({"apps", "batch-get"}) || p.Is({"fields", "batch-get"})) {
    if (method != "POST") return Empty(405);
    absl::StatusOr<rapidjson::Document> body = body_json();
    std::optional<std::vector<int64_t>> ids =
        body.ok() ? IntArray(&*body) : std::optional<std::vector<int64_t>>();
    if (!ids.has_value()) return Message(400, "The request body must be a JSON array of ids.");
    if (ids->size() > kMaxBatch) return Message(400, "A batch may hold at most 100 ids.");
    JsonWriter out;
    int64_t count = 0;
    out.StartObject().Key("items").StartArray();
    if (p.lower[0] == "apps") {
      for (int64_t id : *ids) {
        const OsApp* app = store_.FindApp(id);
        if (app == nullptr) continue;
        if (auto denied = CheckAccess(key, id, false)) return *std::move(denied);
        out.StartObject()
            .Member("href", absl::StrCat(origin_, "/Apps/id/", id))
            .Member("id", id)
            .Member("name", app->name)
            .EndObject();
        ++count;
      }
    } else {
      for (int64_t id : *ids) {
        const OsField* field = store_.FindField(id);
        if (field == nullptr) continue;
        if (auto denied = CheckAccess(key, field->app_id, false)) return *std::move(denied);
        store_.WriteField(out, *field);
        ++count;
      }
    }
    out.EndArray().Member("count", count).EndObject();
    return Json(200, out.str());
  }

  // ---- Fields ----
  if (p.Is({"fields", "id", "*"})) {
    if (method != "GET") return Empty(405);
    const std::optional<int64_t> id = ParseId(p.raw[2]);
    const OsField* field = id.has_value() ? store_.FindField(*id) : nullptr;
    if (field == nullptr) return Empty(404);
    if (auto denied = CheckAccess(key, field->app_id, false)) return *std::move(denied);
    JsonWriter out;
    store_.WriteField(out, *field);
    return Json(200, out.str());
  }
  if (p.Is({"fields", "appid", "*"})) {
    if (method != "GET") return Empty(405);
    const std::optional<int64_t> app_id = ParseId(p.raw[2]);
    if (!app_id.has_value()) return Empty(404);
    if (auto denied = CheckAccess(key, *app_id, false)) return *std::move(denied);
    auto paging = ParsePaging(params);
    if (auto* error = std::get_if<http::Response>(&paging)) return std::move(*error);
    const OsApp& app = *store_.FindApp(*app_id);
    return Json(200, Envelope(std::get<Paging>(paging), static_cast<int64_t>(app.field_ids.size()),
                              [&](JsonWriter& out, int64_t i) {
                                store_.WriteField(out, *store_.FindField(app.field_ids[i]));
                              }));
  }

  // ---- Lists ----
  if (p.Is({"lists", "id", "*", "items"})) {
    if (method != "PUT") return Empty(405);
    const std::optional<int64_t> list_id = ParseId(p.raw[2]);
    OsList* list = list_id.has_value() ? store_.FindList(*list_id) : nullptr;
    if (list == nullptr) return Message(404, "List not found.");
    if (key.read_only) return Message(403, "Client does not have access to write list values.");
    absl::StatusOr<rapidjson::Document> body = body_json();
    if (!body.ok() || !body->IsObject())
      return Message(400, "The request body must be a JSON object.");
    const rapidjson::Value* id = FindMember(*body, "id", true);
    const std::optional<std::string> name = GetString(*body, "name", true);
    if (!name.has_value() || absl::StripAsciiWhitespace(*name).empty()) {
      return Message(400, "A list value needs a name.");
    }
    const rapidjson::Value* numeric = FindMember(*body, "numericValue", true);
    const std::optional<std::string> color = GetString(*body, "color", true);
    OsListValue* existing = nullptr;
    if (id != nullptr && !id->IsNull()) {
      if (!id->IsString()) return Message(400, "The list value id must be a GUID string.");
      for (OsListValue& value : list->values) {
        if (absl::EqualsIgnoreCase(value.id, ToAbsl(View(*id)))) existing = &value;
      }
      if (existing == nullptr) return Message(404, "List value not found.");
    }
    for (const OsListValue& value : list->values) {
      if (&value != existing && value.name == *name) {
        return Message(400, absl::StrCat("The list already has a value named \"", *name, "\"."));
      }
    }
    int status = 200;
    if (existing == nullptr) {
      OsListValue value;
      value.id = store_.NewGuid();
      value.sort_order = static_cast<int64_t>(list->values.size()) + 1;
      list->values.push_back(std::move(value));
      existing = &list->values.back();
      status = 201;
    }
    existing->name = *name;
    if (numeric != nullptr) {
      existing->numeric_value =
          numeric->IsNumber() ? std::optional<double>(numeric->GetDouble()) : std::nullopt;
    }
    if (color.has_value()) existing->color = *color;
    JsonWriter out;
    out.StartObject().Member("id", existing->id).EndObject();
    return Json(status, out.str());
  }
  if (p.Is({"lists", "id", "*", "itemid", "*"})) {
    if (method != "DELETE") return Empty(405);
    const std::optional<int64_t> list_id = ParseId(p.raw[2]);
    OsList* list = list_id.has_value() ? store_.FindList(*list_id) : nullptr;
    if (list == nullptr) return Message(404, "List not found.");
    if (key.read_only) return Message(403, "Client does not have access to write list values.");
    const auto it =
        std::find_if(list->values.begin(), list->values.end(),
                     [&](const OsListValue& v) { return absl::EqualsIgnoreCase(v.id, p.raw[4]); });
    if (it == list->values.end()) return Message(404, "List value not found.");
    const std::string guid = it->id;
    list->values.erase(it);
    // Records that held the value lose it.
    for (const auto& [app_id, app_const] : store_.apps()) {
      OsApp& app = *store_.FindApp(app_id);
      for (auto& [record_id, record] : app.records) {
        for (auto value = record.values.begin(); value != record.values.end();) {
          if (auto* guids = std::get_if<std::vector<std::string>>(&value->second)) {
            guids->erase(std::remove(guids->begin(), guids->end(), guid), guids->end());
            if (guids->empty()) {
              value = record.values.erase(value);
              continue;
            }
          }
          ++value;
        }
      }
    }
    return Empty(204);
  }

  // ---- Records ----
  if (p.Is({"records", "appid", "*"})) {
    if (method != "GET") return Empty(405);
    const std::optional<int64_t> app_id = ParseId(p.raw[2]);
    if (!app_id.has_value()) return Empty(404);
    if (auto denied = CheckAccess(key, *app_id, false)) return *std::move(denied);
    auto paging = ParsePaging(params);
    if (auto* error = std::get_if<http::Response>(&paging)) return std::move(*error);
    const std::optional<std::vector<int64_t>> field_ids = ParseFieldIdsParam(params);
    const std::optional<bool> formatted = ParseFormattedParam(params);
    if (!field_ids.has_value())
      return Message(400, "fieldIds must be a comma-separated list of ids.");
    if (!formatted.has_value()) return Message(400, "dataFormat must be Raw or Formatted.");
    const OsApp& app = *store_.FindApp(*app_id);
    std::vector<const OsRecord*> records;
    for (const auto& [id, record] : app.records) records.push_back(&record);
    return Json(200, Envelope(std::get<Paging>(paging), static_cast<int64_t>(records.size()),
                              [&](JsonWriter& out, int64_t i) {
                                store_.WriteRecord(out, app, *records[i], *field_ids, *formatted);
                              }));
  }
  if (p.Is({"records", "appid", "*", "recordid", "*"})) {
    const std::optional<int64_t> app_id = ParseId(p.raw[2]);
    const std::optional<int64_t> record_id = ParseId(p.raw[4]);
    if (!app_id.has_value() || !record_id.has_value()) return Empty(404);
    const bool write = method == "DELETE";
    if (method != "GET" && !write) return Empty(405);
    if (auto denied = CheckAccess(key, *app_id, write)) return *std::move(denied);
    OsApp& app = *store_.FindApp(*app_id);
    const auto record = app.records.find(*record_id);
    if (record == app.records.end()) return Empty(404);
    if (write) {
      app.records.erase(record);
      return Empty(204);
    }
    const std::optional<std::vector<int64_t>> field_ids = ParseFieldIdsParam(params);
    const std::optional<bool> formatted = ParseFormattedParam(params);
    if (!field_ids.has_value())
      return Message(400, "fieldIds must be a comma-separated list of ids.");
    if (!formatted.has_value()) return Message(400, "dataFormat must be Raw or Formatted.");
    JsonWriter out;
    store_.WriteRecord(out, app, record->second, *field_ids, *formatted);
    return Json(200, out.str());
  }
  if (p.Is({"records", "batch-get"}) || p.Is({"records", "query"}) ||
      p.Is({"records", "batch-delete"})) {
    const bool is_delete = p.lower[1] == "batch-delete";
    if (method != "POST" && !(is_delete && method == "DELETE")) return Empty(405);
    absl::StatusOr<rapidjson::Document> body = body_json();
    if (!body.ok() || !body->IsObject()) {
      return Message(400, "The request body must be a JSON object.");
    }
    const std::optional<int64_t> app_id = GetInt(*body, "appId", true);
    if (!app_id.has_value()) return Message(400, "appId is required.");
    if (auto denied = CheckAccess(key, *app_id, is_delete)) return *std::move(denied);
    OsApp& app = *store_.FindApp(*app_id);
    const std::optional<std::vector<int64_t>> field_ids =
        IntArray(FindMember(*body, "fieldIds", true));
    const std::optional<bool> formatted = ParseFormatted(FindMember(*body, "dataFormat", true));
    if (!field_ids.has_value()) return Message(400, "fieldIds must be an array of ids.");
    if (!formatted.has_value()) return Message(400, "dataFormat must be Raw or Formatted.");
    if (p.lower[1] == "query") {
      auto paging = ParsePaging(params);
      if (auto* error = std::get_if<http::Response>(&paging)) return std::move(*error);
      const rapidjson::Value* filter_json = FindMember(*body, "filter", true);
      if (filter_json != nullptr && !filter_json->IsNull() && !filter_json->IsString()) {
        return Message(400, "filter must be a string.");
      }
      const std::string filter_text =
          filter_json != nullptr && filter_json->IsString() ? std::string(View(*filter_json)) : "";
      absl::StatusOr<OsFilter> filter = OsFilter::Parse(filter_text, store_, app);
      if (!filter.ok()) return Message(400, ToStd(filter.status().message()));
      std::vector<const OsRecord*> records;
      for (const auto& [id, record] : app.records) {
        if (filter->Matches(store_, record, case_sensitive_)) records.push_back(&record);
      }
      return Json(200, Envelope(std::get<Paging>(paging), static_cast<int64_t>(records.size()),
                                [&](JsonWriter& out, int64_t i) {
                                  store_.WriteRecord(out, app, *records[i], *field_ids, *formatted);
                                }));
    }
    const std::optional<std::vector<int64_t>> record_ids =
        IntArray(FindMember(*body, "recordIds", true));
    if (!record_ids.has_value()) return Message(400, "recordIds must be an array of ids.");
    if (record_ids->empty()) return Message(400, "recordIds must not be empty.");
    if (record_ids->size() > kMaxBatch)
      return Message(400, "A batch may hold at most 100 record ids.");
    if (is_delete) {
      for (int64_t id : *record_ids) app.records.erase(id);
      return Empty(204);
    }
    JsonWriter out;
    int64_t count = 0;
    out.StartObject().Key("items").StartArray();
    for (int64_t id : *record_ids) {
      const auto record = app.records.find(id);
      if (record == app.records.end()) continue;
      store_.WriteRecord(out, app, record->second, *field_ids, *formatted);
      ++count;
    }
    out.EndArray().Member("count", count).EndObject();
    return Json(200, out.str());
  }
  if (p.Is({"records"})) {
    if (method != "PUT") return Empty(405);
    return SaveRecord(request, key, after);
  }
  return Empty(404);
}

http::Response OnspringFake::SaveRecord(const http::Request& request, const ApiKey& key,
                                        absl::AnyInvocable<void() &&>* after) {
  absl::StatusOr<rapidjson::Document> body = ParseJson(request.body);
  if (!body.ok() || !body->IsObject())
    return Message(400, "The request body must be a JSON object.");
  const std::optional<int64_t> app_id = GetInt(*body, "appId", true);
  if (!app_id.has_value()) return Message(400, "appId is required.");
  if (auto denied = CheckAccess(key, *app_id, true)) return *std::move(denied);
  OsApp& app = *store_.FindApp(*app_id);
  std::optional<int64_t> record_id;
  if (const rapidjson::Value* id = FindMember(*body, "recordId", true);
      id != nullptr && !id->IsNull()) {
    if (!id->IsInt64()) return Message(400, "recordId must be an integer.");
    record_id = id->GetInt64();
    if (app.records.count(*record_id) == 0) {
      return Message(404,
                     absl::StrCat("Record ", *record_id, " was not found in app ", app.id, "."));
    }
  }
  const rapidjson::Value* fields = FindMember(*body, "fields", true);
  if (fields == nullptr || !fields->IsObject() || fields->MemberCount() == 0) {
    return Message(400, "The record must have at least one field value.");
  }
  std::map<int64_t, OsValue> values;
  for (auto it = fields->MemberBegin(); it != fields->MemberEnd(); ++it) {
    int64_t field_id = 0;
    const OsField* field =
        absl::SimpleAtoi(ToAbsl(View(it->name)), &field_id) ? store_.FindField(field_id) : nullptr;
    if (field == nullptr || field->app_id != app.id) {
      return Message(400, absl::StrCat("Field ", ToAbsl(View(it->name)), " does not exist in app ",
                                       app.id, "."));
    }
    auto converted = store_.ConvertInput(*field, it->value);
    if (auto* error = std::get_if<OsError>(&converted))
      return Message(error->status, error->message);
    values[field_id] = std::get<OsValue>(std::move(converted));
  }
  std::optional<OsRecord> before;
  if (record_id.has_value()) before = app.records.at(*record_id);
  absl::StatusOr<int64_t> saved = store_.Apply(app, record_id, values);
  if (!saved.ok()) return Message(404, ToStd(saved.status().message()));
  if (listener_ != nullptr) {
    *after = listener_->OnRecordSaved(store_, app, before.has_value() ? &*before : nullptr,
                                      app.records.at(*saved));
  }
  JsonWriter out;
  out.StartObject().Member("id", *saved).Key("warnings").StartArray().EndArray().EndObject();
  return Json(record_id.has_value() ? 200 : 201, out.str());
}

absl::StatusOr<MappingResult> OnspringFake::ApplyMapping(
    int64_t app_id, int64_t record_id, const rapidjson::Value& response,
    const std::vector<std::pair<std::string, int64_t>>& rows) {
  absl::MutexLock lock(&mu_);
  OsApp* app = store_.FindApp(app_id);
  if (app == nullptr || app->records.count(record_id) == 0) {
    return absl::NotFoundError(absl::StrCat("record ", record_id, " of app ", app_id, " is gone"));
  }
  MappingResult result;
  std::map<int64_t, OsValue> values;
  for (const auto& [source, field_id] : rows) {
    const OsField* field = store_.FindField(field_id);
    if (field == nullptr || field->app_id != app_id) {
      result.errors.push_back(
          absl::StrCat(source, ": field ", field_id, " is not in app ", app_id));
      continue;
    }
    const rapidjson::Value* value = response.IsObject() ? FindMember(response, source) : nullptr;
    if (value == nullptr) {
      result.errors.push_back(absl::StrCat(source, ": not in the response"));
      continue;
    }
    auto converted = store_.ConvertMapped(*field, *value);
    if (auto* error = std::get_if<OsError>(&converted)) {
      result.errors.push_back(absl::StrCat(source, ": ", error->message));
      continue;
    }
    OsValue stored = std::get<OsValue>(std::move(converted));
    result.mapped.push_back({source, field_id,
                             store_.RenderText(*field, stored, /*list_guid=*/false,
                                               /*references_as_title=*/false)});
    values[field_id] = std::move(stored);
  }
  if (!values.empty()) {
    absl::StatusOr<int64_t> saved = store_.Apply(*app, record_id, values);
    if (!saved.ok()) return saved.status();
  }
  return result;
}

}  // namespace onsync::sandbox
