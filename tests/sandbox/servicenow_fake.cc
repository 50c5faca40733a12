#include "tests/sandbox/servicenow_fake.h"

#include <algorithm>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/string_view.h"
#include "tests/sandbox/encoded_query.h"
#include "tests/sandbox/faults.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/url.h"

namespace onsync::sandbox {
namespace {

constexpr char kJsonType[] = "application/json;charset=UTF-8";
constexpr int64_t kDefaultLimit = 10000;

enum class DisplayMode { kFalse, kTrue, kAll };

http::Response JsonResponse(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.content_type = kJsonType;
  response.body = std::move(body);
  return response;
}

http::Response Unauthenticated() {
  http::Response response = JsonResponse(
      401,
      ServiceNowFake::ErrorBody("User Not Authenticated", "Required to provide Auth information"));
  response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"Service-now\"");
  return response;
}

http::Response NoRecord() {
  return JsonResponse(
      404, ServiceNowFake::ErrorBody("No Record found",
                                     "Record doesn't exist or ACL restricts the record retrieval"));
}

http::Response InvalidTable(std::string_view table) {
  return JsonResponse(
      400, ServiceNowFake::ErrorBody(absl::StrCat("Invalid table ", ToAbsl(table)), nullptr));
}

http::Response NoResource() {
  return JsonResponse(
      400, ServiceNowFake::ErrorBody("Requested URI does not represent any resource", nullptr));
}

http::Response OAuthDenied() {
  http::Response response =
      JsonResponse(401, R"({"error_description":"access_denied","error":"server_error"})");
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

bool IsTrue(const std::vector<QueryParam>& params, std::string_view key) {
  const std::optional<std::string> value = FindParam(params, key);
  return value.has_value() && absl::EqualsIgnoreCase(*value, "true");
}

// Parsed path of a ServiceNow request.
struct SnPath {
  enum Kind { kUnknown, kToken, kTable, kStats } kind = kUnknown;
  std::string version;  // "", "v1" or "v2"
  std::string table;
  std::string sys_id;
};

SnPath ParsePath(std::string_view raw_path) {
  SnPath parsed;
  const std::vector<std::string> segments = PathSegments(raw_path);
  if (segments.size() == 1 && segments[0] == "oauth_token.do") {
    parsed.kind = SnPath::kToken;
    return parsed;
  }
  if (segments.size() < 3 || segments[0] != "api" || segments[1] != "now") return parsed;
  size_t i = 2;
  if (segments[i] == "v1" || segments[i] == "v2") parsed.version = segments[i++];
  if (i >= segments.size()) return parsed;
  if (segments[i] == "table" && i + 1 < segments.size() && segments.size() <= i + 3) {
    parsed.kind = SnPath::kTable;
    parsed.table = segments[i + 1];
    if (i + 2 < segments.size()) parsed.sys_id = segments[i + 2];
    return parsed;
  }
  if (segments[i] == "stats" && i + 2 == segments.size()) {
    parsed.kind = SnPath::kStats;
    parsed.table = segments[i + 1];
  }
  return parsed;
}

// Shapes one value of a record per sysparm_display_value / exclude_reference_link.
class RecordWriter {
 public:
  RecordWriter(const SnStore& store, DisplayMode mode, bool exclude_link, std::string link_base)
      : store_(store), mode_(mode), exclude_link_(exclude_link), link_base_(std::move(link_base)) {}

  void Write(JsonWriter& out, const SnTable& table, const SnRow& row,
             const std::vector<std::string>* fields) const {
    out.StartObject();
    if (fields == nullptr) {
      for (const SnField& field : table.fields) {
        WriteValue(out, field.name, *store_.Resolve(table, &row, field.name));
      }
    } else {
      for (const std::string& path : *fields) {
        const std::optional<SnResolved> resolved = store_.Resolve(table, &row, path);
        if (resolved.has_value()) WriteValue(out, path, *resolved);
      }
    }
    out.EndObject();
  }

 private:
  void WriteValue(JsonWriter& out, std::string_view key, const SnResolved& resolved) const {
    out.Key(key);
    const std::string raw = SnStore::RawValue(resolved);
    if (resolved.field->type == SnFieldType::kReference) {
      if (raw.empty()) {
        if (mode_ == DisplayMode::kAll) {
          out.StartObject().Member("display_value", "").Member("value", "").EndObject();
        } else {
          out.String("");
        }
        return;
      }
      const std::string link = absl::StrCat(link_base_, resolved.field->reference_table, "/", raw);
      switch (mode_) {
        case DisplayMode::kFalse:
          if (exclude_link_) {
            out.String(raw);
          } else {
            out.StartObject().Member("link", link).Member("value", raw).EndObject();
          }
          return;
        case DisplayMode::kTrue:
          if (exclude_link_) {
            out.String(store_.DisplayValue(resolved));
          } else {
            out.StartObject()
                .Member("display_value", store_.DisplayValue(resolved))
                .Member("link", link)
                .EndObject();
          }
          return;
        case DisplayMode::kAll:
          out.StartObject().Member("display_value", store_.DisplayValue(resolved));
          if (!exclude_link_) out.Member("link", link);
          out.Member("value", raw).EndObject();
          return;
      }
    }
    switch (mode_) {
      case DisplayMode::kFalse:
        out.String(raw);
        return;
      case DisplayMode::kTrue:
        out.String(store_.DisplayValue(resolved));
        return;
      case DisplayMode::kAll:
        out.StartObject()
            .Member("display_value", store_.DisplayValue(resolved))
            .Member("value", raw)
            .EndObject();
        return;
    }
  }

  const SnStore& store_;
  const DisplayMode mode_;
  const bool exclude_link_;
  const std::string link_base_;  // ".../api/now/[v2/]table/"
};

DisplayMode ParseDisplayMode(const std::vector<QueryParam>& params) {
  const std::string value =
      absl::AsciiStrToLower(FindParam(params, "sysparm_display_value").value_or("false"));
  if (value == "true") return DisplayMode::kTrue;
  if (value == "all") return DisplayMode::kAll;
  return DisplayMode::kFalse;
}

// nullopt = all fields.
std::optional<std::vector<std::string>> ParseFields(const std::vector<QueryParam>& params) {
  const std::optional<std::string> value = FindParam(params, "sysparm_fields");
  if (!value.has_value() || absl::StripAsciiWhitespace(*value).empty()) return std::nullopt;
  std::vector<std::string> fields;
  for (absl::string_view field : absl::StrSplit(*value, ',')) {
    field = absl::StripAsciiWhitespace(field);
    if (field.empty()) continue;
    if (std::find(fields.begin(), fields.end(), field) == fields.end()) {
      fields.emplace_back(field);
    }
  }
  return fields;
}

// The Link header: one header, comma-separated with no spaces, first/prev/next/last, each URL
// repeating the request's query parameters as sent with sysparm_offset moved to the end.
std::string LinkHeader(std::string_view origin, std::string_view path, std::string_view query,
                       int64_t limit, int64_t offset, std::optional<int64_t> total,
                       bool page_full) {
  std::vector<std::string> kept;
  bool has_limit = false;
  for (const QueryParam& param : ParseQuery(query)) {
    if (param.key == "sysparm_offset") continue;
    if (param.key == "sysparm_limit") has_limit = true;
    kept.push_back(param.raw);
  }
  if (!has_limit) kept.push_back(absl::StrCat("sysparm_limit=", limit));
  const std::string base = absl::StrCat(ToAbsl(origin), ToAbsl(path), "?", absl::StrJoin(kept, "&"),
                                        kept.empty() ? "" : "&", "sysparm_offset=");
  std::vector<std::string> links;
  links.push_back(absl::StrCat("<", base, 0, ">;rel=\"first\""));
  links.push_back(absl::StrCat("<", base, offset - limit, ">;rel=\"prev\""));
  const bool has_next = total.has_value() ? offset + limit < *total : page_full;
  if (has_next) links.push_back(absl::StrCat("<", base, offset + limit, ">;rel=\"next\""));
  if (total.has_value()) {
    // Java integer division, as the real instance computes it.
    const int64_t last = ((*total - 1) / limit) * limit;
    links.push_back(absl::StrCat("<", base, last, ">;rel=\"last\""));
  }
  return absl::StrJoin(links, ",");
}

std::vector<std::pair<std::string, std::string>> CommonHeaders(uint64_t transaction,
                                                               bool logged_in) {
  return {
      {"Cache-control", "no-cache,no-store,must-revalidate,max-age=-1"},
      {"Pragma", "no-store,no-cache"},
      {"Expires", "0"},
      {"X-Is-Logged-In", logged_in ? "true" : "false"},
      {"X-Transaction-ID", absl::StrFormat("%012x", 0x7d9414489707ULL + transaction)},
      {"Server-Timing", "sem_wait;dur=0, sesh_wait;dur=0"},
      {"Set-Cookie", absl::StrFormat("JSESSIONID=%032X; Path=/; HttpOnly; SameSite=None",
                                     0x35AEE3F52FA22010ULL + transaction)},
  };
}

}  // namespace

std::string ServiceNowFake::ErrorBody(std::string_view message, const char* detail) {
  JsonWriter out;
  out.StartObject().Key("error").StartObject().Member("message", message).Key("detail");
  if (detail == nullptr) {
    out.Null();
  } else {
    out.String(detail);
  }
  out.EndObject().Member("status", "failure").EndObject();
  return out.str();
}

http::Response ServiceNowFake::FaultResponse(int status, bool html, int64_t retry_after_s) {
  http::Response response;
  response.status = status;
  if (html) {
    response.content_type = "text/html;charset=UTF-8";
    response.body = HtmlErrorPage(status);
  } else {
    switch (status) {
      case 401:
        response = Unauthenticated();
        break;
      case 404:
        response = NoRecord();
        break;
      case 429:
        response = JsonResponse(
            429, ErrorBody("Rate limit exceeded",
                           "Rate limit of 100 requests per hour for Table API exceeded"));
        response.headers.emplace_back("X-RateLimit-Limit", "100");
        response.headers.emplace_back(
            "X-RateLimit-Reset",
            absl::StrCat(absl::ToUnixSeconds(absl::Now()) + std::max<int64_t>(retry_after_s, 1)));
        response.headers.emplace_back("X-RateLimit-Rule", "d3a7f1e01b2330106f2a4f85464bcb7a");
        break;
      case 500:
        response = JsonResponse(
            500, ErrorBody("Transaction cancelled: maximum execution time exceeded",
                           "Transaction cancelled: maximum execution time exceeded. Check logs "
                           "for error trace or enable glide.rest.debug property to verify REST "
                           "request processing"));
        break;
      default:
        response = JsonResponse(status, ErrorBody(ReasonPhrase(status), nullptr));
        break;
    }
  }
  if (retry_after_s > 0 && (status == 429 || status == 503)) {
    response.headers.emplace_back("Retry-After", absl::StrCat(retry_after_s));
  }
  return response;
}

std::string ServiceNowFake::RouteOf(std::string_view method, std::string_view path) {
  const SnPath parsed = ParsePath(path);
  switch (parsed.kind) {
    case SnPath::kToken:
      return absl::StrCat(ToAbsl(method), " /oauth_token.do");
    case SnPath::kTable:
      return absl::StrCat(ToAbsl(method), " /api/now/table/", parsed.table,
                          parsed.sys_id.empty() ? "" : "/{sys_id}");
    case SnPath::kStats:
      return absl::StrCat(ToAbsl(method), " /api/now/stats/", parsed.table);
    case SnPath::kUnknown:
      break;
  }
  return absl::StrCat(ToAbsl(method), " (unknown)");
}

absl::StatusOr<ServiceNowFake::Settings> ServiceNowFake::ParseSettings(
    const rapidjson::Value& seed) {
  Settings settings;
  if (const rapidjson::Value* users = FindMember(seed, "users");
      users != nullptr && users->IsArray()) {
    for (const rapidjson::Value& user : users->GetArray()) {
      const std::optional<std::string> name = GetString(user, "user_name");
      if (!name.has_value())
        return absl::InvalidArgumentError("servicenow.users[]: missing user_name");
      settings.users[*name] = GetString(user, "password").value_or("");
    }
  }
  if (const rapidjson::Value* clients = FindMember(seed, "oauth_clients");
      clients != nullptr && clients->IsArray()) {
    for (const rapidjson::Value& client : clients->GetArray()) {
      const std::optional<std::string> id = GetString(client, "client_id");
      if (!id.has_value()) {
        return absl::InvalidArgumentError("servicenow.oauth_clients[]: missing client_id");
      }
      settings.clients[*id] = {GetString(client, "client_secret").value_or(""),
                               GetString(client, "user").value_or("admin")};
    }
  }
  if (auto seconds = GetInt(seed, "access_token_lifetime_s")) {
    settings.access_token_lifetime = absl::Seconds(*seconds);
  }
  if (auto seconds = GetInt(seed, "refresh_token_lifetime_s")) {
    settings.refresh_token_lifetime = absl::Seconds(*seconds);
  }
  settings.case_sensitive = GetBool(seed, "case_sensitive").value_or(false);
  settings.invalid_query_returns_no_rows =
      GetBool(seed, "invalid_query_returns_no_rows").value_or(false);
  return settings;
}

absl::StatusOr<std::unique_ptr<ServiceNowFake>> ServiceNowFake::Create(
    const rapidjson::Value& seed) {
  std::unique_ptr<ServiceNowFake> fake(new ServiceNowFake());
  if (absl::Status status = fake->Reset(seed); !status.ok()) return status;
  return fake;
}

absl::Status ServiceNowFake::Reset(const rapidjson::Value& seed) {
  if (!seed.IsObject()) return absl::InvalidArgumentError("servicenow: expected an object");
  absl::StatusOr<SnStore> store = SnStore::FromSeed(seed);
  if (!store.ok()) return store.status();
  absl::StatusOr<Settings> settings = ParseSettings(seed);
  if (!settings.ok()) return settings.status();
  absl::MutexLock lock(&mu_);
  store_ = *std::move(store);
  settings_ = *std::move(settings);
  tokens_.clear();
  refresh_tokens_.clear();
  return absl::OkStatus();
}

void ServiceNowFake::SetOrigin(std::string origin) {
  absl::MutexLock lock(&mu_);
  origin_ = std::move(origin);
}

void ServiceNowFake::ExpireAccessTokens() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (auto& [token, info] : tokens_) info.expiry = std::min(info.expiry, now);
}

std::string ServiceNowFake::NewToken() {
  // Unpredictable across runs (seeded from the OS), URL-safe like the real tokens.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (token_state_ == 0) token_state_ = (static_cast<uint64_t>(std::random_device()()) << 32) | 1;
  std::mt19937_64 generator(token_state_++ * 0x9e3779b97f4a7c15ULL);
  std::string token;
  for (int i = 0; i < 86; ++i) token.push_back(kAlphabet[generator() % 64]);
  return token;
}

std::optional<std::string> ServiceNowFake::Authenticate(const http::Request& request) {
  const std::optional<std::string_view> header = request.Header("authorization");
  if (!header.has_value()) return std::nullopt;
  absl::string_view value = absl::StripAsciiWhitespace(ToAbsl(*header));
  if (absl::StartsWithIgnoreCase(value, "basic ")) {
    absl::StatusOr<std::string> decoded =
        Base64Decode(ToStd(absl::StripAsciiWhitespace(value.substr(6))));
    if (!decoded.ok()) return std::nullopt;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    const std::string user = decoded->substr(0, colon);
    const auto it = settings_.users.find(user);
    if (it == settings_.users.end() || it->second != decoded->substr(colon + 1))
      return std::nullopt;
    return user;
  }
  if (absl::StartsWithIgnoreCase(value, "bearer ")) {
    const auto it = tokens_.find(std::string(absl::StripAsciiWhitespace(value.substr(7))));
    if (it == tokens_.end() || it->second.expiry <= absl::Now()) return std::nullopt;
    return it->second.user;
  }
  return std::nullopt;
}

FakeResult ServiceNowFake::Handle(const http::Request& request) {
  FakeResult result;
  std::string method = request.method;
  if (auto override_method = request.Header("x-http-method-override")) {
    method = absl::AsciiStrToUpper(ToAbsl(*override_method));
  }
  result.route = RouteOf(method, request.path);
  const SnPath path = ParsePath(request.path);
  absl::MutexLock lock(&mu_);
  ++transaction_counter_;
  if (path.kind == SnPath::kToken) {
    FakeResult token = HandleToken(request);
    token.route = result.route;
    return token;
  }
  const std::optional<std::string> user = Authenticate(request);
  if (!user.has_value()) {
    result.response = Unauthenticated();
  } else {
    result.user = *user;
    switch (path.kind) {
      case SnPath::kTable:
        result.response =
            HandleTable(request, method, path.version, path.table, path.sys_id, *user);
        break;
      case SnPath::kStats:
        result.response = HandleStats(request, path.table);
        break;
      default:
        result.response = NoResource();
        break;
    }
  }
  for (auto& header : CommonHeaders(transaction_counter_, user.has_value())) {
    result.response.headers.push_back(std::move(header));
  }
  if (method == "HEAD") result.response.body.clear();
  return result;
}

FakeResult ServiceNowFake::HandleToken(const http::Request& request) {
  FakeResult result;
  result.log_body_set = true;
  if (request.method != "POST") {
    result.response = JsonResponse(405, ErrorBody("Method not Supported", nullptr));
    return result;
  }
  std::vector<QueryParam> params = ParseQuery(request.query);
  const std::string content_type =
      absl::AsciiStrToLower(ToAbsl(request.Header("content-type").value_or("")));
  if (absl::StartsWith(content_type, "application/x-www-form-urlencoded")) {
    for (QueryParam& param : ParseQuery(request.body)) params.push_back(std::move(param));
  }
  const std::string grant = FindParam(params, "grant_type").value_or("");
  result.log_body = absl::StrCat("grant_type=", grant);
  const std::string client_id = FindParam(params, "client_id").value_or("");
  const auto client = settings_.clients.find(client_id);
  if (client == settings_.clients.end() ||
      client->second.secret != FindParam(params, "client_secret").value_or("")) {
    result.response = OAuthDenied();
    return result;
  }
  const absl::Time now = absl::Now();
  std::string user;
  std::string refresh_token;
  if (grant == "password") {
    user = FindParam(params, "username").value_or("");
    const auto it = settings_.users.find(user);
    if (it == settings_.users.end() || it->second != FindParam(params, "password").value_or("")) {
      result.response = OAuthDenied();
      return result;
    }
  } else if (grant == "client_credentials") {
    user = client->second.user;
  } else if (grant == "refresh_token") {
    refresh_token = FindParam(params, "refresh_token").value_or("");
    const auto it = refresh_tokens_.find(refresh_token);
    if (it == refresh_tokens_.end() || it->second.client_id != client_id ||
        it->second.expiry <= now) {
      result.response = OAuthDenied();
      return result;
    }
    user = it->second.user;
  } else {
    result.response = OAuthDenied();
    return result;
  }
  result.user = user;

  // Asking again while a token of the same grant is valid returns that token (documented for
  // the password grant; applied to client_credentials too). A refresh always mints a new one.
  std::string access_token;
  if (grant != "refresh_token") {
    for (const auto& [token, info] : tokens_) {
      if (info.client_id == client_id && info.user == user && info.grant == grant &&
          info.expiry > now) {
        access_token = token;
        refresh_token = info.refresh_token;
        break;
      }
    }
  }
  if (access_token.empty()) {
    access_token = NewToken();
    if (grant == "password") {
      refresh_token = NewToken();
      refresh_tokens_[refresh_token] = {user, client_id, now + settings_.refresh_token_lifetime};
    }
    tokens_[access_token] = {user, client_id, grant, refresh_token,
                             now + settings_.access_token_lifetime};
  }
  const int64_t expires_in = std::max<int64_t>(
      0, absl::ToInt64Seconds(tokens_[access_token].expiry - now - absl::Nanoseconds(1)));
  JsonWriter out;
  out.StartObject()
      .Member("scope", "useraccount")
      .Member("token_type", "Bearer")
      .Member("expires_in", expires_in);
  if (!refresh_token.empty()) out.Member("refresh_token", refresh_token);
  out.Member("access_token", access_token).EndObject();
  result.response = JsonResponse(200, out.str());
  result.response.headers.emplace_back("Cache-Control", "no-store");
  return result;
}

http::Response ServiceNowFake::HandleStats(const http::Request& request,
                                           std::string_view table_name) {
  const SnTable* table = store_.FindTable(table_name);
  if (table == nullptr) return InvalidTable(table_name);
  const std::vector<QueryParam> params = ParseQuery(request.query);
  const SnEncodedQuery query = ParseEncodedQuery(FindParam(params, "sysparm_query").value_or(""));
  const SnQueryEvaluator evaluator(
      store_, *table, query, {settings_.case_sensitive, settings_.invalid_query_returns_no_rows});
  int64_t count = 0;
  for (const SnRow& row : table->rows) count += evaluator.Matches(row) ? 1 : 0;
  JsonWriter out;
  out.StartObject().Key("result").StartObject().Key("stats").StartObject();
  if (IsTrue(params, "sysparm_count")) out.Member("count", absl::StrCat(count));
  out.EndObject().EndObject().EndObject();
  return JsonResponse(200, out.str());
}

http::Response ServiceNowFake::HandleTable(const http::Request& request, std::string_view method,
                                           std::string_view version, std::string_view table_name,
                                           std::string_view sys_id, const std::string& user) {
  SnTable* table = store_.FindTable(table_name);
  if (table == nullptr) return InvalidTable(table_name);
  const std::vector<QueryParam> params = ParseQuery(request.query);
  const DisplayMode mode = ParseDisplayMode(params);
  const std::optional<std::vector<std::string>> fields = ParseFields(params);
  const std::string link_base =
      absl::StrCat(origin_, "/api/now/", ToAbsl(version), version.empty() ? "" : "/", "table/");
  const RecordWriter writer(store_, mode, IsTrue(params, "sysparm_exclude_reference_link"),
                            link_base);
  auto single = [&](const SnRow& row, int status) {
    JsonWriter out;
    out.StartObject().Key("result");
    writer.Write(out, *table, row, fields.has_value() ? &*fields : nullptr);
    out.EndObject();
    return JsonResponse(status, out.str());
  };

  const bool read = method == "GET" || method == "HEAD";
  if (sys_id.empty()) {
    if (method == "POST") {
      absl::StatusOr<rapidjson::Document> body = ParseJson(request.body);
      if (!body.ok() || !(body->IsObject() || (body->IsArray() && !body->Empty()))) {
        return JsonResponse(
            400, ErrorBody("Exception while reading request", "The payload is not valid JSON."));
      }
      const rapidjson::Value& object = body->IsArray() ? (*body)[0] : *body;
      if (!object.IsObject()) {
        return JsonResponse(
            400, ErrorBody("Exception while reading request", "The payload is not valid JSON."));
      }
      const bool input_display = IsTrue(params, "sysparm_input_display_value");
      SnRow row;
      for (const SnField& field : table->fields) row[field.name] = "";
      for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
        const SnField* field = table->FindField(View(it->name));
        if (field == nullptr) continue;  // unknown fields are ignored
        row[field->name] = SnValueFromJson(it->value);
      }
      if (input_display) {
        for (const SnField& field : table->fields) {
          std::string& value = row[field.name];
          if (value.empty()) continue;
          if (field.type == SnFieldType::kReference && table->FindRow(value) == nullptr) {
            const SnTable* target = store_.FindTable(field.reference_table);
            for (const SnRow& candidate : target->rows) {
              const auto display = candidate.find(target->display_field);
              if (display != candidate.end() && display->second == value) {
                value = candidate.find("sys_id")->second;
                break;
              }
            }
          } else if (field.type == SnFieldType::kChoice) {
            for (const auto& [choice_value, label] : field.choices) {
              if (label == value) value = choice_value;
            }
          }
        }
      }
      if (row["sys_id"].empty() || table->FindRow(row["sys_id"]) != nullptr) {
        row["sys_id"] = store_.NewSysId();
      }
      const std::string now = SnStore::FormatTime(absl::Now());
      row["sys_created_on"] = row["sys_updated_on"] = now;
      row["sys_created_by"] = row["sys_updated_by"] = user;
      row["sys_mod_count"] = "0";
      row["sys_class_name"] = table->name;
      const std::string new_id = row["sys_id"];
      http::Response response = single(table->AddRow(std::move(row)), 201);
      response.headers.emplace_back("Location", absl::StrCat(link_base, table->name, "/", new_id));
      return response;
    }
    if (!read) {
      return JsonResponse(405, ErrorBody("Method not Supported",
                                         "Requested method is not supported on this resource"));
    }
    // GET list.
    SnEncodedQuery query;
    if (const std::optional<std::string> text = FindParam(params, "sysparm_query")) {
      query = ParseEncodedQuery(*text);
    } else {
      // `field=value` URL filters (AND), matching raw or display values.
      query.groups.emplace_back();
      for (const QueryParam& param : params) {
        if (absl::StartsWith(param.key, "sysparm_")) continue;
        SnCondition condition;
        condition.text = param.raw;
        condition.field = param.key;
        condition.op = "=";
        condition.value = param.value;
        condition.parsed = true;
        condition.match_display = true;
        query.groups.back().push_back({condition});
      }
    }
    const SnQueryEvaluator evaluator(
        store_, *table, query, {settings_.case_sensitive, settings_.invalid_query_returns_no_rows});
    std::vector<const SnRow*> matches;
    for (const SnRow& row : table->rows) {
      if (evaluator.Matches(row)) matches.push_back(&row);
    }
    evaluator.Sort(matches);
    int64_t limit = kDefaultLimit;
    int64_t offset = 0;
    if (auto text = FindParam(params, "sysparm_limit"); text.has_value()) {
      if (!absl::SimpleAtoi(*text, &limit) || limit <= 0) limit = kDefaultLimit;
    }
    if (auto text = FindParam(params, "sysparm_offset"); text.has_value()) {
      if (!absl::SimpleAtoi(*text, &offset) || offset < 0) offset = 0;
    }
    const int64_t total = static_cast<int64_t>(matches.size());
    JsonWriter out;
    out.StartObject().Key("result").StartArray();
    int64_t page_rows = 0;
    for (int64_t i = offset; i < total && i < offset + limit; ++i) {
      ++page_rows;
      // The limit applies before the (simulated) ACL: hidden rows leave a short page.
      if (table->acl_hidden.count(matches[i]->find("sys_id")->second) > 0) continue;
      writer.Write(out, *table, *matches[i], fields.has_value() ? &*fields : nullptr);
    }
    out.EndArray().EndObject();
    if (version == "v1" && page_rows == 0) return NoRecord();
    http::Response response = JsonResponse(200, out.str());
    const bool no_count = IsTrue(params, "sysparm_no_count");
    if (!IsTrue(params, "sysparm_suppress_pagination_header")) {
      response.headers.emplace_back(
          "Link",
          LinkHeader(origin_, request.path, request.query, limit, offset,
                     no_count ? std::nullopt : std::optional<int64_t>(total), page_rows == limit));
    }
    if (!no_count) response.headers.emplace_back("X-Total-Count", absl::StrCat(total));
    return response;
  }

  SnRow* row = table->FindRow(sys_id);
  if (row == nullptr || table->acl_hidden.count(std::string(sys_id)) > 0) return NoRecord();
  if (read) return single(*row, 200);
  if (method == "DELETE") {
    table->EraseRow(sys_id);
    http::Response response;
    response.status = 204;
    response.content_type.clear();
    return response;
  }
  if (method == "PUT" || method == "PATCH") {
    absl::StatusOr<rapidjson::Document> body = ParseJson(request.body);
    if (!body.ok() || !(body->IsObject() || (body->IsArray() && !body->Empty()))) {
      return JsonResponse(
          400, ErrorBody("Exception while reading request", "The payload is not valid JSON."));
    }
    const rapidjson::Value& object = body->IsArray() ? (*body)[0] : *body;
    if (!object.IsObject()) {
      return JsonResponse(
          400, ErrorBody("Exception while reading request", "The payload is not valid JSON."));
    }
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      const SnField* field = table->FindField(View(it->name));
      if (field == nullptr || absl::StartsWith(field->name, "sys_")) continue;
      (*row)[field->name] = SnValueFromJson(it->value);
    }
    int64_t mod_count = 0;
    (void)absl::SimpleAtoi((*row)["sys_mod_count"], &mod_count);
    (*row)["sys_mod_count"] = absl::StrCat(mod_count + 1);
    (*row)["sys_updated_on"] = SnStore::FormatTime(absl::Now());
    (*row)["sys_updated_by"] = user;
    return single(*row, 200);
  }
  return JsonResponse(
      405, ErrorBody("Method not Supported", "Requested method is not supported on this resource"));
}

}  // namespace onsync::sandbox
