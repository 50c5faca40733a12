#include "clients/servicenow/table_client.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/http/http_status.h"
#include "clients/http/redact.h"
#include "clients/servicenow/encoded_query.h"
#include "clients/servicenow/origin.h"
#include "common/string_view.h"

namespace onsync::clients::servicenow {
namespace {

constexpr absl::string_view kTablePath = "/api/now/table/";
// Rows read per page by LookupByKey's case-variant fallback, and the most it reads.
constexpr int kLookupFallbackPage = 100;
constexpr size_t kLookupFallbackMaxRows = 1000;

std::string_view DisplayValueParam(DisplayValue dv) {
  switch (dv) {
    case DisplayValue::kTrue:
      return "true";
    case DisplayValue::kAll:
      return "all";
    case DisplayValue::kFalse:
      break;
  }
  return "false";
}

absl::Status ValidateTable(std::string_view table) {
  bool ok = !table.empty();
  for (char c : table) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_')) ok = false;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ServiceNow table name \"", ToAbsl(table.substr(0, 64)), "\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateSysId(std::string_view sys_id) {
  bool ok = !sys_id.empty() && sys_id.size() <= 64;
  for (char c : sys_id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) ok = false;
  }
  if (!ok) return absl::InvalidArgumentError("invalid ServiceNow sys_id (expected [A-Za-z0-9]+)");
  return absl::OkStatus();
}

absl::Status ValidateFields(const std::vector<std::string>& fields) {
  for (const std::string& f : fields) {
    if (absl::Status s = ValidateFieldName(f); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string JsonText(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string ScalarText(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  return JsonText(v);
}

FieldValue ParseFieldValue(const rapidjson::Value& v, DisplayValue dv) {
  FieldValue out;
  if (v.IsNull()) {
    out.is_null = true;
    return out;
  }
  if (v.IsObject()) {
    // A reference ({"link","value"}, {"display_value","link"}) or, with `all`, any field
    // ({"display_value","value"}).
    const auto value = v.FindMember("value");
    const auto display = v.FindMember("display_value");
    const bool has_value = value != v.MemberEnd() && !value->value.IsObject();
    const bool has_display = display != v.MemberEnd() && !display->value.IsObject();
    if (!has_value && !has_display) {
      out.value = JsonText(v);
      return out;
    }
    if (has_value) out.value = value->value.IsNull() ? "" : ScalarText(value->value);
    if (has_display) out.display_value = display->value.IsNull() ? "" : ScalarText(display->value);
    if (!has_value && dv == DisplayValue::kTrue) out.value = out.display_value;
    if (has_value && value->value.IsNull() && (!has_display || display->value.IsNull())) {
      out.is_null = true;
    }
    if (dv == DisplayValue::kFalse) out.display_value.clear();
    return out;
  }
  out.value = ScalarText(v);
  if (dv != DisplayValue::kFalse) out.display_value = out.value;
  return out;
}

// Pages are parsed in the widest mode (kAll keeps every member); this narrows them to the mode
// that was asked for, so that FieldValue means the same whatever the request.
void NarrowRows(std::vector<Row>& rows, DisplayValue dv) {
  if (dv == DisplayValue::kAll) return;
  for (Row& row : rows) {
    for (auto& [name, field] : row.fields) {
      if (dv == DisplayValue::kFalse) {
        field.display_value.clear();
      } else if (field.value.empty()) {
        field.value = field.display_value;
      }
    }
  }
}

Row ParseRow(const rapidjson::Value& object, DisplayValue dv) {
  Row row;
  for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
    row.fields.emplace(std::string(it->name.GetString(), it->name.GetStringLength()),
                       ParseFieldValue(it->value, dv));
  }
  return row;
}

std::string PathOf(std::string_view url) {
  const size_t scheme = url.find("://");
  const size_t start = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (start == std::string_view::npos) return "/";
  return std::string(url.substr(start, url.find_first_of("?#", start) - start));
}

// ServiceNow's `{"error":{"message","detail"}}` as "message (detail)", or a snippet of whatever
// the body is.
std::string ErrorText(const HttpResponse& response) {
  std::string text;
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    const auto error = doc.FindMember("error");
    if (error != doc.MemberEnd() && error->value.IsObject()) {
      const auto message = error->value.FindMember("message");
      const auto detail = error->value.FindMember("detail");
      if (message != error->value.MemberEnd() && message->value.IsString()) {
        text = ScalarText(message->value);
      }
      if (detail != error->value.MemberEnd() && detail->value.IsString() &&
          detail->value.GetStringLength() > 0) {
        absl::StrAppend(&text, text.empty() ? "" : " (", ScalarText(detail->value),
                        text.empty() ? "" : ")");
      }
    } else if (error != doc.MemberEnd() && error->value.IsString()) {
      text = ScalarText(error->value);
    }
  }
  if (text.empty()) text = SummarizeBody(response.body);
  return text;
}

// The Status for a non-2xx response.
absl::Status ErrorFromResponse(const HttpResponse& response, std::string_view what) {
  // StatusFromHttp redacts the message.
  absl::Status status =
      StatusFromHttp(response.status, absl::StrCat(ToAbsl(what), ": ", ErrorText(response)));
  // Keep the Retry-After delay (429/503) for whoever reschedules the work.
  const absl::Status with_retry_after = StatusFromHttpResponse(response);
  if (auto delay = with_retry_after.GetPayload(ToAbsl(kRetryAfterPayloadUrl))) {
    status.SetPayload(ToAbsl(kRetryAfterPayloadUrl), *std::move(delay));
  }
  return status;
}

// A 2xx response that cannot be used: UNAVAILABLE (an instance answering 200 with an HTML page or
// a failure body is not healthy; a later attempt may succeed).
absl::Status Unusable(std::string_view what, const HttpResponse& response, std::string_view why) {
  return absl::UnavailableError(
      Redact(absl::StrCat(ToAbsl(what), ": ", ToAbsl(why), " (HTTP ", response.status,
                          "): ", SummarizeBody(response.body))));
}

// The transport error, the decoded error of a non-2xx response, or the `result` member of a
// 2xx body parsed into `doc`.
absl::StatusOr<const rapidjson::Value*> ResultOf(const absl::StatusOr<HttpResponse>& answer,
                                                 rapidjson::Document& doc, std::string_view what) {
  if (!answer.ok()) return answer.status();
  const HttpResponse& response = *answer;
  if (response.status < 200 || response.status > 299) return ErrorFromResponse(response, what);
  doc.Parse(response.body.data(), response.body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Unusable(what, response, "unreadable response");
  }
  const auto status = doc.FindMember("status");
  if (status != doc.MemberEnd() && status->value.IsString() &&
      std::string_view(status->value.GetString()) == "failure") {
    return absl::UnavailableError(
        Redact(absl::StrCat(ToAbsl(what), ": ServiceNow reported a failure (HTTP ", response.status,
                            "): ", ErrorText(response))));
  }
  const auto result = doc.FindMember("result");
  if (result == doc.MemberEnd()) return Unusable(what, response, "response without \"result\"");
  return &result->value;
}

// The `rel="next"` URL among a Link header's entries: `<url>;rel="first",<url>;rel="next",…`.
std::optional<std::string> NextLink(std::string_view header) {
  size_t pos = 0;
  while (true) {
    const size_t open = header.find('<', pos);
    if (open == std::string_view::npos) return std::nullopt;
    const size_t close = header.find('>', open + 1);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view url = header.substr(open + 1, close - open - 1);
    // Parameters run to the next entry (",<") or the end.
    size_t end = header.find(",", close + 1);
    while (end != std::string_view::npos) {
      size_t k = end + 1;
      while (k < header.size() && (header[k] == ' ' || header[k] == '\t')) ++k;
      if (k >= header.size() || header[k] == '<') break;
      end = header.find(",", end + 1);
    }
    std::string_view params = header.substr(
        close + 1, end == std::string_view::npos ? std::string_view::npos : end - close - 1);
    for (absl::string_view param : absl::StrSplit(ToAbsl(params), ';')) {
      param = absl::StripAsciiWhitespace(param);
      if (!absl::StartsWithIgnoreCase(param, "rel=")) continue;
      absl::string_view rel = param.substr(4);
      if (!rel.empty() && rel.front() == '"') rel.remove_prefix(1);
      if (!rel.empty() && rel.back() == '"') rel.remove_suffix(1);
      for (absl::string_view token : absl::StrSplit(rel, ' ')) {
        if (absl::EqualsIgnoreCase(token, "next")) return std::string(url);
      }
    }
    if (end == std::string_view::npos) return std::nullopt;
    pos = end + 1;
  }
}

// Equal after lower-casing ASCII letters and dropping trailing blanks: what a case-insensitive,
// pad-space database collation would treat as equal.
bool NearMatch(std::string_view a, std::string_view b) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  return absl::EqualsIgnoreCase(ToAbsl(trim(a)), ToAbsl(trim(b)));
}

bool ExactMatch(const Row& row, std::string_view key_field, std::string_view value) {
  const FieldValue* field = row.Find(key_field);
  return field != nullptr && !field->is_null && field->value == value;
}

absl::Status Ambiguous(const LookupRequest& request) {
  return absl::AbortedError(
      absl::StrCat("ambiguous: more than one ", request.table, " row has ", request.key_field,
                   " = \"", ToAbsl(std::string_view(request.value).substr(0, 200)), "\""));
}

}  // namespace

std::optional<std::string_view> Row::Value(std::string_view field) const {
  const FieldValue* f = Find(field);
  if (f == nullptr) return std::nullopt;
  return std::string_view(f->value);
}

const FieldValue* Row::Find(std::string_view field) const {
  auto it = fields.find(field);
  return it == fields.end() ? nullptr : &it->second;
}

absl::StatusOr<std::unique_ptr<TableClient>> TableClient::Create(HttpTransport& transport,
                                                                 Scheduler& scheduler,
                                                                 Authenticator& authenticator,
                                                                 std::string_view instance_url) {
  absl::StatusOr<std::string> origin = InstanceOrigin(instance_url);
  if (!origin.ok()) return origin.status();
  return std::unique_ptr<TableClient>(
      new TableClient(transport, scheduler, authenticator, *std::move(origin)));
}

TableClient::TableClient(HttpTransport& transport, Scheduler& scheduler,
                         Authenticator& authenticator, std::string origin)
    : transport_(transport),
      scheduler_(scheduler),
      authenticator_(authenticator),
      origin_(std::move(origin)) {}

template <typename T>
void TableClient::Fail(Callback<T> done, absl::Status status) {
  scheduler_.RunAfter(absl::ZeroDuration(),
                      [done = std::move(done), status = std::move(status)]() mutable {
                        std::move(done)(std::move(status));
                      });
}

void TableClient::Execute(HttpRequest request, bool retried, Callback<HttpResponse> done) {
  const absl::Time deadline = request.deadline;
  authenticator_.Authorize(
      deadline, [this, request = std::move(request), retried,
                 done = std::move(done)](absl::StatusOr<std::string> header) mutable {
        if (!header.ok()) {
          Fail(std::move(done), std::move(header).status());
          return;
        }
        // Keep a copy for the one retry after a 401, only when a retry can help.
        std::optional<HttpRequest> retry;
        if (!retried && authenticator_.CanRefresh()) retry = request;
        request.headers.emplace_back("Authorization", *header);
        transport_.Send(std::move(request),
                        [this, retry = std::move(retry), header = *header,
                         done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
                          if (response.ok() && response->status == 401 && retry.has_value()) {
                            authenticator_.Invalidate(header);
                            Execute(*std::move(retry), /*retried=*/true, std::move(done));
                            return;
                          }
                          std::move(done)(std::move(response));
                        });
      });
}

absl::StatusOr<std::string> TableClient::ListUrl(const ListRequest& request) const {
  if (absl::Status s = ValidateTable(request.table); !s.ok()) return s;
  if (absl::Status s = ValidateFields(request.fields); !s.ok()) return s;
  if (request.limit < 1 || request.limit > 10000) {
    return absl::InvalidArgumentError("ServiceNow sysparm_limit must be in 1..10000");
  }
  if (request.offset < 0) return absl::InvalidArgumentError("negative sysparm_offset");
  if (request.query.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos) {
    return absl::InvalidArgumentError("ServiceNow query contains a newline or NUL");
  }
  std::string url = absl::StrCat(origin_, kTablePath, request.table, "?");
  if (!request.query.empty()) {
    absl::StrAppend(&url, "sysparm_query=", UrlEncode(request.query), "&");
  }
  if (!request.fields.empty()) {
    absl::StrAppend(&url, "sysparm_fields=", UrlEncode(absl::StrJoin(request.fields, ",")), "&");
  }
  absl::StrAppend(
      &url, "sysparm_display_value=", ToAbsl(DisplayValueParam(request.display_value)),
      "&sysparm_exclude_reference_link=", request.exclude_reference_link ? "true" : "false",
      "&sysparm_limit=", request.limit, "&sysparm_offset=", request.offset,
      "&sysparm_no_count=", request.no_count ? "true" : "false");
  return url;
}

void TableClient::FetchPage(std::string url, const CallOptions& call, Callback<TablePage> done) {
  HttpRequest http;
  http.method = "GET";
  http.url = std::move(url);
  http.headers = {{"Accept", "application/json"}};
  call.ApplyTo(http);
  std::string what = absl::StrCat("ServiceNow GET ", PathOf(http.url));
  Execute(
      std::move(http), /*retried=*/false,
      [this, what = std::move(what),
       done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
        rapidjson::Document doc;
        absl::StatusOr<const rapidjson::Value*> result = ResultOf(response, doc, what);
        if (!result.ok()) {
          std::move(done)(result.status());
          return;
        }
        if (!(*result)->IsArray()) {
          std::move(done)(absl::UnavailableError(absl::StrCat(what, ": \"result\" is not a list")));
          return;
        }
        TablePage page;
        // Parsed in the widest mode; callers narrow with NarrowRows.
        for (const rapidjson::Value& item : (*result)->GetArray()) {
          if (!item.IsObject()) continue;
          page.rows.push_back(ParseRow(item, DisplayValue::kAll));
        }
        bool has_link = false;
        for (const auto& [name, value] : response->headers) {
          if (name != "link") continue;
          has_link = true;
          if (page.next_link) continue;
          std::optional<std::string> next = NextLink(value);
          if (next && !next->empty() && next->front() == '/') {
            next = absl::StrCat(origin_, *next);
          }
          page.next_link = std::move(next);
        }
        page.has_link_header = has_link;
        if (std::optional<std::string_view> total = response->Header("x-total-count")) {
          int64_t n = 0;
          if (absl::SimpleAtoi(ToAbsl(*total), &n)) page.total_count = n;
        }
        std::move(done)(std::move(page));
      });
}

void TableClient::List(ListRequest request, Callback<TablePage> done) {
  absl::StatusOr<std::string> url = ListUrl(request);
  if (!url.ok()) {
    Fail(std::move(done), url.status());
    return;
  }
  const DisplayValue dv = request.display_value;
  FetchPage(*std::move(url), request.call,
            [dv, done = std::move(done)](absl::StatusOr<TablePage> page) mutable {
              if (page.ok()) NarrowRows(page->rows, dv);
              std::move(done)(std::move(page));
            });
}

struct TableClient::PageLoop {
  ListRequest request;
  PageCallback on_page;
  DoneCallback done;
  std::string url;
  std::set<std::string> visited;
};

void TableClient::ForEachPage(ListRequest request, PageCallback on_page, DoneCallback done) {
  absl::StatusOr<std::string> url = ListUrl(request);
  if (!url.ok()) {
    scheduler_.RunAfter(
        absl::ZeroDuration(),
        [done = std::move(done), status = url.status()]() mutable { std::move(done)(status); });
    return;
  }
  auto loop = std::make_shared<PageLoop>();
  loop->request = std::move(request);
  loop->on_page = std::move(on_page);
  loop->done = std::move(done);
  loop->url = *std::move(url);
  NextPage(std::move(loop));
}

void TableClient::NextPage(std::shared_ptr<PageLoop> loop) {
  loop->visited.insert(loop->url);
  const DisplayValue dv = loop->request.display_value;
  // Read before `loop` is moved into the callback (argument evaluation order is unspecified).
  std::string url = loop->url;
  const CallOptions call = loop->request.call;
  FetchPage(std::move(url), call,
            [this, dv, loop = std::move(loop)](absl::StatusOr<TablePage> page) mutable {
              if (!page.ok()) {
                std::move(loop->done)(page.status());
                return;
              }
              if (page->rows.empty()) {
                std::move(loop->done)(absl::OkStatus());
                return;
              }
              NarrowRows(page->rows, dv);
              std::optional<std::string> next = page->next_link;
              const bool has_link = page->has_link_header;
              if (absl::Status s = loop->on_page(*page); !s.ok()) {
                std::move(loop->done)(std::move(s));
                return;
              }
              if (next.has_value()) {
                std::optional<std::string> on_instance = OnOrigin(*next, origin_);
                if (!on_instance.has_value()) {
                  std::move(loop->done)(absl::FailedPreconditionError(
                      absl::StrCat("ServiceNow paging link points outside the instance ", origin_,
                                   " (refused, credentials are only sent to the instance): ",
                                   OriginOf(*next).value_or("not an http(s) URL"))));
                  return;
                }
                loop->url = *std::move(on_instance);
              } else if (!has_link) {
                // No Link header at all: page by offset until an empty page.
                loop->request.offset += loop->request.limit;
                absl::StatusOr<std::string> url = ListUrl(loop->request);
                if (!url.ok()) {
                  std::move(loop->done)(url.status());
                  return;
                }
                loop->url = *std::move(url);
              } else {
                std::move(loop->done)(absl::OkStatus());
                return;
              }
              if (loop->visited.count(loop->url) > 0) {
                std::move(loop->done)(absl::FailedPreconditionError(
                    "ServiceNow paging link repeats a page already read (loop)"));
                return;
              }
              NextPage(std::move(loop));
            });
}

void TableClient::ListAll(ListRequest request, Callback<std::vector<Row>> done) {
  auto rows = std::make_shared<std::vector<Row>>();
  ForEachPage(
      std::move(request),
      [rows](TablePage& page) {
        for (Row& row : page.rows) rows->push_back(std::move(row));
        return absl::OkStatus();
      },
      [rows, done = std::move(done)](absl::Status status) mutable {
        if (!status.ok()) {
          std::move(done)(std::move(status));
          return;
        }
        std::move(done)(std::move(*rows));
      });
}

void TableClient::Get(GetRequest request, Callback<Row> done) {
  absl::Status valid = ValidateTable(request.table);
  if (valid.ok()) valid = ValidateSysId(request.sys_id);
  if (valid.ok()) valid = ValidateFields(request.fields);
  if (!valid.ok()) {
    Fail(std::move(done), std::move(valid));
    return;
  }
  HttpRequest http;
  http.method = "GET";
  http.url = absl::StrCat(origin_, kTablePath, request.table, "/", request.sys_id, "?");
  if (!request.fields.empty()) {
    absl::StrAppend(&http.url, "sysparm_fields=", UrlEncode(absl::StrJoin(request.fields, ",")),
                    "&");
  }
  absl::StrAppend(
      &http.url, "sysparm_display_value=", ToAbsl(DisplayValueParam(request.display_value)),
      "&sysparm_exclude_reference_link=", request.exclude_reference_link ? "true" : "false");
  http.headers = {{"Accept", "application/json"}};
  request.call.ApplyTo(http);
  std::string what = absl::StrCat("ServiceNow GET ", PathOf(http.url));
  const DisplayValue dv = request.display_value;
  Execute(std::move(http), /*retried=*/false,
          [dv, what = std::move(what),
           done = std::move(done)](absl::StatusOr<HttpResponse> response) mutable {
            rapidjson::Document doc;
            absl::StatusOr<const rapidjson::Value*> result = ResultOf(response, doc, what);
            if (!result.ok()) {
              std::move(done)(result.status());
              return;
            }
            const rapidjson::Value* object = *result;
            if (object->IsArray() && object->Size() > 0) object = &(*object)[0];
            if (!object->IsObject()) {
              std::move(done)(absl::NotFoundError(absl::StrCat(what, ": no record in the result")));
              return;
            }
            std::move(done)(ParseRow(*object, dv));
          });
}

void TableClient::LookupByKey(LookupRequest request, Callback<std::optional<Row>> done) {
  absl::Status valid = ValidateFieldName(request.key_field);
  if (valid.ok() && request.fields.empty() && request.key_field.find('.') != std::string::npos) {
    valid = absl::InvalidArgumentError(
        "a dot-walked key_field needs explicit fields (all columns do not include dot-walks)");
  }
  absl::StatusOr<std::string> query =
      EncodedQuery().Equals(request.key_field, request.value).Build();
  if (valid.ok() && !query.ok()) valid = query.status();
  if (!valid.ok()) {
    Fail(std::move(done), std::move(valid));
    return;
  }
  std::vector<std::string> fields = request.fields;
  if (!fields.empty() &&
      std::find(fields.begin(), fields.end(), request.key_field) == fields.end()) {
    fields.push_back(request.key_field);
  }
  ListRequest list;
  list.table = request.table;
  list.query = *query;
  list.fields = fields;
  list.display_value = request.display_value;
  list.exclude_reference_link = request.exclude_reference_link;
  list.limit = 2;
  list.no_count = true;
  list.call = request.call;
  auto shared = std::make_shared<LookupRequest>(std::move(request));
  List(std::move(list), [this, shared, query = *std::move(query), fields = std::move(fields),
                         done = std::move(done)](absl::StatusOr<TablePage> page) mutable {
    if (!page.ok()) {
      std::move(done)(page.status());
      return;
    }
    std::vector<Row*> exact;
    bool near = false;
    for (Row& row : page->rows) {
      if (ExactMatch(row, shared->key_field, shared->value)) {
        exact.push_back(&row);
      } else if (const FieldValue* f = row.Find(shared->key_field);
                 f != nullptr && NearMatch(f->value, shared->value)) {
        near = true;
      }
    }
    if (exact.size() >= 2) {
      std::move(done)(Ambiguous(*shared));
      return;
    }
    if (page->rows.size() >= 2 && near) {
      // Case variants filled the two rows; an exact match may be among the rows beyond them.
      LookupFallback(std::move(shared), std::move(query), std::move(fields), std::move(done));
      return;
    }
    if (exact.empty()) {
      std::move(done)(std::optional<Row>());
      return;
    }
    std::move(done)(std::optional<Row>(std::move(*exact.front())));
  });
}

void TableClient::LookupFallback(std::shared_ptr<LookupRequest> request, std::string query,
                                 std::vector<std::string> fields,
                                 Callback<std::optional<Row>> done) {
  struct State {
    std::vector<Row> exact;
    size_t seen = 0;
    bool ambiguous = false;
    bool too_many = false;
  };
  auto state = std::make_shared<State>();
  ListRequest list;
  list.table = request->table;
  list.query = absl::StrCat(query, "^ORDERBYsys_id");
  list.fields = std::move(fields);
  list.display_value = request->display_value;
  list.exclude_reference_link = request->exclude_reference_link;
  list.limit = kLookupFallbackPage;
  list.no_count = true;
  list.call = request->call;
  ForEachPage(
      std::move(list),
      [state, request](TablePage& page) {
        for (Row& row : page.rows) {
          if (ExactMatch(row, request->key_field, request->value)) {
            state->exact.push_back(std::move(row));
          }
        }
        state->seen += page.rows.size();
        if (state->exact.size() >= 2) {
          state->ambiguous = true;
          return absl::CancelledError("stop");
        }
        if (state->seen >= kLookupFallbackMaxRows) {
          state->too_many = true;
          return absl::CancelledError("stop");
        }
        return absl::OkStatus();
      },
      [state, request, done = std::move(done)](absl::Status status) mutable {
        if (state->ambiguous) {
          std::move(done)(Ambiguous(*request));
        } else if (state->too_many) {
          std::move(done)(absl::FailedPreconditionError(absl::StrCat(
              "more than ", kLookupFallbackMaxRows, " ", request->table, " rows match ",
              request->key_field, " case-insensitively; cannot establish an exact match")));
        } else if (!status.ok()) {
          std::move(done)(std::move(status));
        } else if (state->exact.empty()) {
          std::move(done)(std::optional<Row>());
        } else {
          std::move(done)(std::optional<Row>(std::move(state->exact.front())));
        }
      });
}

}  // namespace onsync::clients::servicenow
