#include "clients/onspring/onspring_client.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "clients/http/http_status.h"
#include "clients/http/redact.h"
#include "common/string_view.h"

namespace onsync::clients::onspring {
namespace {

using rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr size_t kBatchGetMax = 100;

// ---- reading -------------------------------------------------------------------------------

// The member `name` of `object`, matched exactly first and then ignoring ASCII case.
const Value* Member(const Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  const auto exact = object.FindMember(Value(rapidjson::StringRef(name.data(), name.size())));
  if (exact != object.MemberEnd()) return &exact->value;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    if (absl::EqualsIgnoreCase(absl::string_view(it->name.GetString(), it->name.GetStringLength()),
                               ToAbsl(name))) {
      return &it->value;
    }
  }
  return nullptr;
}

std::string StringOf(const Value* v) {
  if (v == nullptr || !v->IsString()) return "";
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<int64_t> IntOf(const Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsDouble()) {
    const double d = v->GetDouble();
    // Only whole numbers in int64's range: casting anything else is undefined behaviour.
    if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

bool BoolOf(const Value* v) { return v != nullptr && v->IsBool() && v->GetBool(); }

std::string JsonText(const Value& v) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

bool AllStrings(const Value& v) {
  if (!v.IsArray()) return false;
  for (const Value& item : v.GetArray()) {
    if (!item.IsString()) return false;
  }
  return true;
}

bool AllInts(const Value& v) {
  if (!v.IsArray()) return false;
  for (const Value& item : v.GetArray()) {
    if (!IntOf(&item)) return false;
  }
  return true;
}

std::vector<std::string> Strings(const Value& v) {
  std::vector<std::string> out;
  for (const Value& item : v.GetArray()) out.push_back(StringOf(&item));
  return out;
}

std::vector<int64_t> Ints(const Value& v) {
  std::vector<int64_t> out;
  for (const Value& item : v.GetArray()) out.push_back(*IntOf(&item));
  return out;
}

FieldValue ParseValue(std::string_view type, const Value* value) {
  if (value == nullptr || value->IsNull()) return FieldValue::Null();
  auto is = [type](std::string_view tag) {
    return absl::EqualsIgnoreCase(ToAbsl(type), ToAbsl(tag));
  };
  if (is("String") && value->IsString()) return FieldValue::String(StringOf(value));
  if (is("Date") && value->IsString()) return FieldValue::Date(StringOf(value));
  if (is("Guid") && value->IsString()) return FieldValue::Guid(StringOf(value));
  if (is("Integer") && IntOf(value)) return FieldValue::Integer(*IntOf(value));
  if ((is("Decimal") || is("Integer")) && value->IsNumber()) {
    return FieldValue::Decimal(value->GetDouble());
  }
  if (is("StringList") && AllStrings(*value)) return FieldValue::StringList(Strings(*value));
  if (is("GuidList") && AllStrings(*value)) return FieldValue::GuidList(Strings(*value));
  if (is("IntegerList") && AllInts(*value)) return FieldValue::IntegerList(Ints(*value));
  if (is("FileList") && AllInts(*value)) return FieldValue::FileList(Ints(*value));
  return FieldValue::Raw(std::string(type), JsonText(*value));
}

absl::StatusOr<Record> ParseRecord(const Value& object) {
  if (!object.IsObject()) return absl::UnavailableError("a record is not a JSON object");
  Record record;
  const std::optional<int64_t> record_id = IntOf(Member(object, "recordId"));
  if (!record_id) return absl::UnavailableError("a record without a recordId");
  record.record_id = *record_id;
  record.app_id = static_cast<int>(IntOf(Member(object, "appId")).value_or(0));
  const Value* data = Member(object, "fieldData");
  if (data != nullptr && data->IsArray()) {
    for (const Value& entry : data->GetArray()) {
      const std::optional<int64_t> field_id = IntOf(Member(entry, "fieldId"));
      if (!field_id) continue;
      record.fields[static_cast<int>(*field_id)] =
          ParseValue(StringOf(Member(entry, "type")), Member(entry, "value"));
    }
  }
  return record;
}

absl::StatusOr<Field> ParseField(const Value& object) {
  Field field;
  const std::optional<int64_t> id = IntOf(Member(object, "id"));
  if (!object.IsObject() || !id) return absl::UnavailableError("a field without an id");
  field.id = static_cast<int>(*id);
  field.app_id = static_cast<int>(IntOf(Member(object, "appId")).value_or(0));
  field.name = StringOf(Member(object, "name"));
  field.type = StringOf(Member(object, "type"));
  field.status = StringOf(Member(object, "status"));
  field.is_required = BoolOf(Member(object, "isRequired"));
  field.is_unique = BoolOf(Member(object, "isUnique"));
  field.multiplicity = StringOf(Member(object, "multiplicity"));
  if (std::optional<int64_t> list_id = IntOf(Member(object, "listId"))) {
    field.list_id = static_cast<int>(*list_id);
  }
  if (std::optional<int64_t> app = IntOf(Member(object, "referencedAppId"))) {
    field.referenced_app_id = static_cast<int>(*app);
  }
  field.output_type = StringOf(Member(object, "outputType"));
  const Value* values = Member(object, "values");
  if (values != nullptr && values->IsArray()) {
    for (const Value& v : values->GetArray()) {
      ListValue lv;
      lv.id = StringOf(Member(v, "id"));
      lv.name = StringOf(Member(v, "name"));
      lv.sort_order = static_cast<int>(IntOf(Member(v, "sortOrder")).value_or(0));
      if (const Value* n = Member(v, "numericValue"); n != nullptr && n->IsNumber()) {
        lv.numeric_value = n->GetDouble();
      }
      lv.color = StringOf(Member(v, "color"));
      field.values.push_back(std::move(lv));
    }
  }
  return field;
}

std::string PathOf(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (start == std::string_view::npos) return "/";
  return std::string(url.substr(start, url.find_first_of("?#", start) - start));
}

std::string What(const HttpRequest& request) {
  return absl::StrCat("Onspring ", request.method, " ", PathOf(request.url));
}

// The Status of a non-2xx response: `{"message": …}` when the body has it, else a snippet.
absl::Status ErrorFromResponse(const HttpResponse& response, std::string_view what) {
  std::string text;
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (!doc.HasParseError() && doc.IsObject()) text = StringOf(Member(doc, "message"));
  if (text.empty()) text = SummarizeBody(response.body);
  // StatusFromHttp redacts the message.
  absl::Status status = StatusFromHttp(response.status, absl::StrCat(ToAbsl(what), ": ", text));
  // Keep the Retry-After delay (429/503) for whoever reschedules the work.
  const absl::Status with_retry_after = StatusFromHttpResponse(response);
  if (auto delay = with_retry_after.GetPayload(ToAbsl(kRetryAfterPayloadUrl))) {
    status.SetPayload(ToAbsl(kRetryAfterPayloadUrl), *std::move(delay));
  }
  return status;
}

// Turns a transport result into the parsed JSON body of a 2xx response (an empty 2xx body parses
// as null), or an error.
absl::Status Decode(const absl::StatusOr<HttpResponse>& response, std::string_view what,
                    rapidjson::Document& doc) {
  if (!response.ok()) return response.status();
  if (response->status < 200 || response->status > 299) {
    return ErrorFromResponse(*response, what);
  }
  if (absl::StripAsciiWhitespace(response->body).empty()) {
    doc.SetNull();
    return absl::OkStatus();
  }
  doc.Parse(response->body.data(), response->body.size());
  if (doc.HasParseError()) {
    return absl::UnavailableError(
        Redact(absl::StrCat(ToAbsl(what), ": unreadable response (HTTP ", response->status,
                            "): ", SummarizeBody(response->body))));
  }
  return absl::OkStatus();
}

absl::Status Malformed(std::string_view what, absl::string_view detail) {
  return absl::UnavailableError(absl::StrCat(ToAbsl(what), ": unexpected response: ", detail));
}

// Paged envelope: `{pageNumber, pageSize, totalPages, totalRecords, items}`.
struct Envelope {
  const Value* items = nullptr;
  int64_t total_pages = 0;
};

absl::StatusOr<Envelope> ParseEnvelope(const rapidjson::Document& doc, std::string_view what) {
  Envelope env;
  env.items = Member(doc, "items");
  if (env.items == nullptr || !env.items->IsArray()) return Malformed(what, "no \"items\" list");
  env.total_pages = IntOf(Member(doc, "totalPages")).value_or(0);
  return env;
}

// Decodes one page of a paged envelope and appends its items, parsed by `parse`, to `out`.
// Returns whether another page follows.
template <typename Item>
absl::StatusOr<bool> AppendPage(const absl::StatusOr<HttpResponse>& response, std::string_view what,
                                int64_t page, absl::StatusOr<Item> (*parse)(const Value&),
                                std::vector<Item>& out) {
  rapidjson::Document doc;
  if (absl::Status s = Decode(response, what, doc); !s.ok()) return s;
  absl::StatusOr<Envelope> env = ParseEnvelope(doc, what);
  if (!env.ok()) return env.status();
  for (const Value& item : env->items->GetArray()) {
    absl::StatusOr<Item> parsed = parse(item);
    if (!parsed.ok()) return Malformed(what, parsed.status().message());
    out.push_back(*std::move(parsed));
  }
  return !env->items->Empty() && page < env->total_pages;
}

// ---- writing -------------------------------------------------------------------------------

absl::Status WriteValue(const FieldValue& value, JsonWriter& w) {
  switch (value.type) {
    case FieldValue::Type::kNull:
      w.Null();
      return absl::OkStatus();
    case FieldValue::Type::kString:
    case FieldValue::Type::kDate:
    case FieldValue::Type::kGuid:
      w.String(value.text.data(), static_cast<rapidjson::SizeType>(value.text.size()));
      return absl::OkStatus();
    case FieldValue::Type::kInteger:
      w.Int64(value.integer);
      return absl::OkStatus();
    case FieldValue::Type::kDecimal:
      if (!std::isfinite(value.decimal)) {
        return absl::InvalidArgumentError("an Onspring decimal value must be finite");
      }
      w.Double(value.decimal);
      return absl::OkStatus();
    case FieldValue::Type::kStringList:
    case FieldValue::Type::kGuidList:
      w.StartArray();
      for (const std::string& s : value.strings) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      }
      w.EndArray();
      return absl::OkStatus();
    case FieldValue::Type::kIntegerList:
    case FieldValue::Type::kFileList:
      w.StartArray();
      for (int64_t i : value.integers) w.Int64(i);
      w.EndArray();
      return absl::OkStatus();
    case FieldValue::Type::kRaw: {
      rapidjson::Document raw;
      raw.Parse(value.text.data(), value.text.size());
      if (raw.HasParseError()) {
        return absl::InvalidArgumentError(
            absl::StrCat("raw Onspring value of type ", value.raw_type, " is not valid JSON"));
      }
      raw.Accept(w);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("unknown Onspring value type");
}

void WriteIntArray(const std::vector<int>& ids, JsonWriter& w) {
  w.StartArray();
  for (int id : ids) w.Int(id);
  w.EndArray();
}

std::string FieldIdsParam(const std::vector<int>& field_ids) {
  return absl::StrJoin(field_ids, ",");
}

absl::Status ValidateIds(const std::vector<int>& field_ids) {
  for (int id : field_ids) {
    if (id <= 0) return absl::InvalidArgumentError(absl::StrCat("invalid Onspring field id ", id));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeBaseUrl(std::string_view url) {
  std::string out(url);
  while (!out.empty() && out.back() == '/') out.pop_back();
  const absl::string_view lower(out);
  const bool http =
      absl::StartsWithIgnoreCase(lower, "http://") || absl::StartsWithIgnoreCase(lower, "https://");
  const size_t host_start = out.find("://") + 3;
  const size_t host_end = out.find('/', host_start);
  const std::string host = out.substr(
      host_start, host_end == std::string::npos ? std::string::npos : host_end - host_start);
  if (!http || host.empty() || host.find('@') != std::string::npos ||
      out.find_first_of("?# ") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Onspring base URL must be an http(s) URL such as https://api.onspring.com, got \"",
        ToAbsl(url.substr(0, 200)), "\""));
  }
  return out;
}

}  // namespace

// ---- FieldValue factories ------------------------------------------------------------------

FieldValue FieldValue::String(std::string text) {
  FieldValue v;
  v.type = Type::kString;
  v.text = std::move(text);
  return v;
}
FieldValue FieldValue::Integer(int64_t value) {
  FieldValue v;
  v.type = Type::kInteger;
  v.integer = value;
  return v;
}
FieldValue FieldValue::Decimal(double value) {
  FieldValue v;
  v.type = Type::kDecimal;
  v.decimal = value;
  return v;
}
FieldValue FieldValue::Date(std::string iso) {
  FieldValue v;
  v.type = Type::kDate;
  v.text = std::move(iso);
  return v;
}
FieldValue FieldValue::Guid(std::string guid) {
  FieldValue v;
  v.type = Type::kGuid;
  v.text = std::move(guid);
  return v;
}
FieldValue FieldValue::StringList(std::vector<std::string> values) {
  FieldValue v;
  v.type = Type::kStringList;
  v.strings = std::move(values);
  return v;
}
FieldValue FieldValue::GuidList(std::vector<std::string> guids) {
  FieldValue v;
  v.type = Type::kGuidList;
  v.strings = std::move(guids);
  return v;
}
FieldValue FieldValue::IntegerList(std::vector<int64_t> record_ids) {
  FieldValue v;
  v.type = Type::kIntegerList;
  v.integers = std::move(record_ids);
  return v;
}
FieldValue FieldValue::FileList(std::vector<int64_t> file_ids) {
  FieldValue v;
  v.type = Type::kFileList;
  v.integers = std::move(file_ids);
  return v;
}
FieldValue FieldValue::Raw(std::string type_tag, std::string json) {
  FieldValue v;
  v.type = Type::kRaw;
  v.raw_type = std::move(type_tag);
  v.text = std::move(json);
  return v;
}

// ---- OnspringClient ------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<OnspringClient>> OnspringClient::Create(
    HttpTransport& transport, Scheduler& scheduler, OnspringClientOptions options) {
  absl::StatusOr<std::string> base = NormalizeBaseUrl(options.base_url);
  if (!base.ok()) return base.status();
  if (options.api_key.empty()) return absl::InvalidArgumentError("empty Onspring API key");
  if (options.api_key.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("the Onspring API key contains a line break");
  }
  if (options.page_size < 1 || options.page_size > 1000) {
    return absl::InvalidArgumentError("Onspring page size must be in 1..1000");
  }
  Redactor::Global().AddSecret(options.api_key);
  return std::unique_ptr<OnspringClient>(new OnspringClient(
      transport, scheduler, *std::move(base), std::move(options.api_key), options.page_size));
}

OnspringClient::OnspringClient(HttpTransport& transport, Scheduler& scheduler, std::string base_url,
                               std::string api_key, int page_size)
    : transport_(transport),
      scheduler_(scheduler),
      base_url_(std::move(base_url)),
      api_key_(std::move(api_key)),
      page_size_(page_size) {}

HttpRequest OnspringClient::NewRequest(std::string method, std::string path,
                                       const CallOptions& call) const {
  HttpRequest request;
  request.method = std::move(method);
  request.url = absl::StrCat(base_url_, path);
  request.headers = {{"X-ApiKey", api_key_}, {"Accept", "application/json"}};
  call.ApplyTo(request);
  return request;
}

template <typename T>
void OnspringClient::Fail(Callback<T> done, absl::Status status) {
  scheduler_.RunAfter(absl::ZeroDuration(),
                      [done = std::move(done), status = std::move(status)]() mutable {
                        std::move(done)(std::move(status));
                      });
}

namespace {
void SetJsonBody(HttpRequest& request, const rapidjson::StringBuffer& buffer) {
  request.body.assign(buffer.GetString(), buffer.GetSize());
  request.headers.emplace_back("Content-Type", "application/json");
}
}  // namespace

void OnspringClient::GetRecord(int app_id, int64_t record_id, std::vector<int> field_ids,
                               const CallOptions& call, Callback<Record> done) {
  if (absl::Status s = ValidateIds(field_ids); !s.ok()) return Fail(std::move(done), s);
  if (app_id <= 0 || record_id <= 0) {
    return Fail(std::move(done), absl::InvalidArgumentError("invalid Onspring app or record id"));
  }
  std::string path = absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id, "?");
  if (!field_ids.empty()) absl::StrAppend(&path, "fieldIds=", FieldIdsParam(field_ids), "&");
  absl::StrAppend(&path, "dataFormat=Raw");
  HttpRequest request = NewRequest("GET", std::move(path), call);
  std::string what = What(request);
  transport_.Send(std::move(request), [what = std::move(what), done = std::move(done)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    rapidjson::Document doc;
    if (absl::Status s = Decode(response, what, doc); !s.ok()) {
      std::move(done)(std::move(s));
      return;
    }
    absl::StatusOr<Record> record = ParseRecord(doc);
    if (!record.ok()) {
      std::move(done)(Malformed(what, record.status().message()));
      return;
    }
    std::move(done)(std::move(record));
  });
}

void OnspringClient::BatchGetRecords(int app_id, std::vector<int64_t> record_ids,
                                     std::vector<int> field_ids, const CallOptions& call,
                                     Callback<std::vector<Record>> done) {
  if (absl::Status s = ValidateIds(field_ids); !s.ok()) return Fail(std::move(done), s);
  if (app_id <= 0) return Fail(std::move(done), absl::InvalidArgumentError("invalid app id"));
  // Distinct ids, first occurrence kept: the order of the answer.
  std::vector<int64_t> ids;
  {
    std::set<int64_t> seen;
    for (int64_t id : record_ids) {
      if (id <= 0) {
        return Fail(std::move(done),
                    absl::InvalidArgumentError(absl::StrCat("invalid Onspring record id ", id)));
      }
      if (seen.insert(id).second) ids.push_back(id);
    }
  }
  if (ids.empty()) {
    scheduler_.RunAfter(absl::ZeroDuration(), [done = std::move(done)]() mutable {
      std::move(done)(std::vector<Record>());
    });
    return;
  }
  struct State {
    absl::Mutex mu;
    size_t pending ABSL_GUARDED_BY(mu) = 0;
    absl::Status error ABSL_GUARDED_BY(mu);
    std::unordered_map<int64_t, Record> found ABSL_GUARDED_BY(mu);
    std::vector<int64_t> order;
    Callback<std::vector<Record>> done;
  };
  auto state = std::make_shared<State>();
  state->order = ids;
  state->done = std::move(done);
  const size_t chunks = (ids.size() + kBatchGetMax - 1) / kBatchGetMax;
  {
    absl::MutexLock lock(&state->mu);
    state->pending = chunks;
  }
  for (size_t c = 0; c < chunks; ++c) {
    rapidjson::StringBuffer buffer;
    JsonWriter w(buffer);
    w.StartObject();
    w.Key("appId");
    w.Int(app_id);
    w.Key("recordIds");
    w.StartArray();
    for (size_t i = c * kBatchGetMax; i < std::min(ids.size(), (c + 1) * kBatchGetMax); ++i) {
      w.Int64(ids[i]);
    }
    w.EndArray();
    w.Key("fieldIds");
    WriteIntArray(field_ids, w);
    w.Key("dataFormat");
    w.String("Raw");
    w.EndObject();
    HttpRequest request = NewRequest("POST", "/Records/batch-get", call);
    SetJsonBody(request, buffer);
    std::string what = What(request);
    transport_.Send(std::move(request),
                    [state, what = std::move(what)](absl::StatusOr<HttpResponse> response) {
                      absl::Status status;
                      std::vector<Record> records;
                      rapidjson::Document doc;
                      status = Decode(response, what, doc);
                      if (status.ok()) {
                        const Value* items = Member(doc, "items");
                        if (items == nullptr || !items->IsArray()) {
                          status = Malformed(what, "no \"items\" list");
                        } else {
                          for (const Value& item : items->GetArray()) {
                            absl::StatusOr<Record> record = ParseRecord(item);
                            if (!record.ok()) {
                              status = Malformed(what, record.status().message());
                              break;
                            }
                            records.push_back(*std::move(record));
                          }
                        }
                      }
                      bool last = false;
                      {
                        absl::MutexLock lock(&state->mu);
                        if (!status.ok() && state->error.ok()) state->error = status;
                        for (Record& r : records) state->found.emplace(r.record_id, std::move(r));
                        last = --state->pending == 0;
                      }
                      if (!last) return;
                      // Every chunk has answered: no other thread touches the state any more.
                      absl::Status error;
                      std::vector<Record> out;
                      {
                        absl::MutexLock lock(&state->mu);
                        error = state->error;
                        if (error.ok()) {
                          for (int64_t id : state->order) {
                            auto it = state->found.find(id);
                            if (it != state->found.end()) out.push_back(std::move(it->second));
                          }
                        }
                      }
                      if (!error.ok()) {
                        std::move(state->done)(std::move(error));
                      } else {
                        std::move(state->done)(std::move(out));
                      }
                    });
  }
}

struct OnspringClient::QueryState {
  int app_id = 0;
  std::string filter;
  std::vector<int> field_ids;
  CallOptions call;
  int64_t page = 1;
  std::vector<Record> records;
  Callback<std::vector<Record>> done;
};

void OnspringClient::QueryRecords(int app_id, std::string filter, std::vector<int> field_ids,
                                  const CallOptions& call, Callback<std::vector<Record>> done) {
  if (absl::Status s = ValidateIds(field_ids); !s.ok()) return Fail(std::move(done), s);
  if (app_id <= 0) return Fail(std::move(done), absl::InvalidArgumentError("invalid app id"));
  auto state = std::make_shared<QueryState>();
  state->app_id = app_id;
  state->filter = std::move(filter);
  state->field_ids = std::move(field_ids);
  state->call = call;
  state->done = std::move(done);
  QueryPage(std::move(state));
}

void OnspringClient::QueryPage(std::shared_ptr<QueryState> state) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("appId");
  w.Int(state->app_id);
  if (!state->filter.empty()) {
    w.Key("filter");
    w.String(state->filter.data(), static_cast<rapidjson::SizeType>(state->filter.size()));
  }
  w.Key("fieldIds");
  WriteIntArray(state->field_ids, w);
  w.Key("dataFormat");
  w.String("Raw");
  w.EndObject();
  HttpRequest request = NewRequest(
      "POST", absl::StrCat("/Records/Query?PageNumber=", state->page, "&PageSize=", page_size_),
      state->call);
  SetJsonBody(request, buffer);
  std::string what = What(request);
  transport_.Send(std::move(request), [this, state = std::move(state), what = std::move(what)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    absl::StatusOr<bool> more =
        AppendPage(response, what, state->page, &ParseRecord, state->records);
    if (!more.ok()) {
      std::move(state->done)(more.status());
      return;
    }
    if (!*more) {
      std::move(state->done)(std::move(state->records));
      return;
    }
    ++state->page;
    QueryPage(std::move(state));
  });
}

void OnspringClient::SaveRecord(int app_id, int64_t record_id, std::map<int, FieldValue> fields,
                                const CallOptions& call, Callback<SaveResult> done) {
  if (app_id <= 0 || record_id < 0) {
    return Fail(std::move(done), absl::InvalidArgumentError("invalid Onspring app or record id"));
  }
  if (fields.empty()) {
    return Fail(std::move(done),
                absl::InvalidArgumentError("an Onspring save needs at least one field"));
  }
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("appId");
  w.Int(app_id);
  if (record_id > 0) {
    w.Key("recordId");
    w.Int64(record_id);
  }
  w.Key("fields");
  w.StartObject();
  for (const auto& [field_id, value] : fields) {
    if (field_id <= 0) {
      return Fail(std::move(done),
                  absl::InvalidArgumentError(absl::StrCat("invalid Onspring field id ", field_id)));
    }
    const std::string key = absl::StrCat(field_id);
    w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    if (absl::Status s = WriteValue(value, w); !s.ok()) {
      return Fail(std::move(done),
                  absl::InvalidArgumentError(absl::StrCat("field ", field_id, ": ", s.message())));
    }
  }
  w.EndObject();
  w.EndObject();
  HttpRequest request = NewRequest("PUT", "/Records", call);
  SetJsonBody(request, buffer);
  // A create must not run twice; an update of the same fields may.
  request.idempotent = record_id > 0;
  std::string what = What(request);
  transport_.Send(std::move(request), [what = std::move(what), done = std::move(done)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    rapidjson::Document doc;
    if (absl::Status s = Decode(response, what, doc); !s.ok()) {
      std::move(done)(std::move(s));
      return;
    }
    SaveResult result;
    const std::optional<int64_t> id = IntOf(Member(doc, "id"));
    if (!id) {
      std::move(done)(Malformed(what, "no record \"id\""));
      return;
    }
    result.id = *id;
    result.created = response->status == 201;
    if (const Value* warnings = Member(doc, "warnings");
        warnings != nullptr && warnings->IsArray()) {
      for (const Value& warning : warnings->GetArray()) {
        result.warnings.push_back(warning.IsString() ? StringOf(&warning) : JsonText(warning));
      }
    }
    std::move(done)(std::move(result));
  });
}

void OnspringClient::DeleteRecord(int app_id, int64_t record_id, const CallOptions& call,
                                  DoneCallback done) {
  if (app_id <= 0 || record_id <= 0) {
    scheduler_.RunAfter(absl::ZeroDuration(), [done = std::move(done)]() mutable {
      std::move(done)(absl::InvalidArgumentError("invalid Onspring app or record id"));
    });
    return;
  }
  HttpRequest request =
      NewRequest("DELETE", absl::StrCat("/Records/appId/", app_id, "/recordId/", record_id), call);
  std::string what = What(request);
  transport_.Send(std::move(request), [what = std::move(what), done = std::move(done)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    if (!response.ok()) {
      std::move(done)(std::move(response).status());
    } else if (response->status < 200 || response->status > 299) {
      std::move(done)(ErrorFromResponse(*response, what));
    } else {
      std::move(done)(absl::OkStatus());
    }
  });
}

struct OnspringClient::FieldsState {
  int app_id = 0;
  CallOptions call;
  int64_t page = 1;
  std::vector<Field> fields;
  Callback<std::vector<Field>> done;
};

void OnspringClient::GetFieldsByApp(int app_id, const CallOptions& call,
                                    Callback<std::vector<Field>> done) {
  if (app_id <= 0) return Fail(std::move(done), absl::InvalidArgumentError("invalid app id"));
  auto state = std::make_shared<FieldsState>();
  state->app_id = app_id;
  state->call = call;
  state->done = std::move(done);
  FieldsPage(std::move(state));
}

void OnspringClient::FieldsPage(std::shared_ptr<FieldsState> state) {
  HttpRequest request =
      NewRequest("GET",
                 absl::StrCat("/Fields/appId/", state->app_id, "?PageNumber=", state->page,
                              "&PageSize=", page_size_),
                 state->call);
  std::string what = What(request);
  transport_.Send(std::move(request), [this, state = std::move(state), what = std::move(what)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    absl::StatusOr<bool> more = AppendPage(response, what, state->page, &ParseField, state->fields);
    if (!more.ok()) {
      std::move(state->done)(more.status());
      return;
    }
    if (!*more) {
      std::move(state->done)(std::move(state->fields));
      return;
    }
    ++state->page;
    FieldsPage(std::move(state));
  });
}

void OnspringClient::AddListValue(int list_id, std::string name, const CallOptions& call,
                                  Callback<std::string> done) {
  if (list_id <= 0) return Fail(std::move(done), absl::InvalidArgumentError("invalid list id"));
  if (name.empty()) {
    return Fail(std::move(done), absl::InvalidArgumentError("empty Onspring list value name"));
  }
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  w.Key("name");
  w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.EndObject();
  HttpRequest request = NewRequest("PUT", absl::StrCat("/Lists/id/", list_id, "/items"), call);
  SetJsonBody(request, buffer);
  request.idempotent = false;
  std::string what = What(request);
  transport_.Send(std::move(request), [what = std::move(what), done = std::move(done)](
                                          absl::StatusOr<HttpResponse> response) mutable {
    rapidjson::Document doc;
    if (absl::Status s = Decode(response, what, doc); !s.ok()) {
      std::move(done)(std::move(s));
      return;
    }
    std::string id = StringOf(Member(doc, "id"));
    if (id.empty()) {
      std::move(done)(Malformed(what, "no list value \"id\""));
      return;
    }
    std::move(done)(std::move(id));
  });
}

}  // namespace onsync::clients::onspring
