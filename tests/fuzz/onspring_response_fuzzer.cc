// Fuzzes the Onspring REST API v2 response parsing of OnspringClient (records with typed
// `fieldData`, paged envelopes, batch-get, save results, list values, fields, `{"message": …}`
// error bodies, Retry-After), through the client's public calls with an inline fake transport that
// answers with the fuzz input (see inline_transport.h for the input format: a bare body, or
// `<status>\n<headers>\n\n<body>`).
//
// Invariants: no crash or undefined behaviour; every callback runs exactly once; every request
// goes to the configured base URL; paging ends; no error message contains the API key; a
// batch-get answers only ids that were asked for, once each, in the order asked; a record that
// was read can be written back (SaveRecord accepts its values: raw values are valid JSON, decimals
// finite) and the PUT body is JSON.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "clients/onspring/onspring_client.h"
#include "common/string_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/inline_transport.h"

namespace {

using onsync::ToAbsl;
using onsync::ToStd;
using onsync::clients::HttpResponse;
using onsync::clients::onspring::Field;
using onsync::clients::onspring::FieldValue;
using onsync::clients::onspring::OnspringClient;
using onsync::clients::onspring::Record;
using onsync::clients::onspring::SaveResult;
using onsync::fuzz::Check;
using onsync::fuzz::InlineTransport;
using onsync::fuzz::Outcome;

constexpr std::string_view kBaseUrl = "https://api.onspring.com";
constexpr std::string_view kApiKey = "fuzz-onspring-api-key-7Hq2";

void CheckStatus(const absl::Status& status) {
  Check(!absl::StrContains(status.message(), ToAbsl(kApiKey)), "an error message shows the API key",
        ToStd(status.message()));
}

void CheckRequests(const InlineTransport& transport) {
  for (const onsync::clients::HttpRequest& request : transport.requests()) {
    Check(absl::StartsWith(request.url, absl::StrCat(ToAbsl(kBaseUrl), "/")),
          "requests go to the base URL", request.url);
    if (!request.body.empty()) {
      Check(onsync::fuzz::IsJson(request.body), "request bodies are JSON", request.body);
    }
  }
}

void CheckRecord(const Record& record) {
  for (const auto& [id, value] : record.fields) {
    if (value.type == FieldValue::Type::kRaw) {
      Check(onsync::fuzz::IsJson(value.text), "a raw value is JSON text", value.text);
    }
  }
}

HttpResponse EmptyPage() {
  HttpResponse response;
  response.status = 200;
  response.body = R"({"pageNumber":1,"totalPages":1,"totalRecords":0,"items":[]})";
  return response;
}

// Writes a record that was read back to Onspring (the engine's read-modify-write).
void SaveBack(OnspringClient& client, InlineTransport& transport, const Record& record) {
  std::map<int, FieldValue> fields;
  for (const auto& [id, value] : record.fields) {
    if (id > 0) fields[id] = value;
  }
  if (fields.empty()) return;
  transport.Reset();
  Outcome<absl::StatusOr<SaveResult>> saved;
  client.SaveRecord(300, record.record_id > 0 ? record.record_id : 1, fields, {}, saved.Callback());
  CheckRequests(transport);
  Check(!transport.requests().empty(), "a record that was read can be saved back",
        saved.Get().status().ToString());
  if (!saved.Get().ok()) CheckStatus(saved.Get().status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const HttpResponse response =
      onsync::fuzz::ParseFuzzResponse(std::string_view(reinterpret_cast<const char*>(data), size));
  // Three answers of the fuzzed response (each call), then empty pages.
  InlineTransport transport(response, 3, EmptyPage());
  // Create registers the API key with the global redactor (once: duplicates are ignored).
  const std::unique_ptr<OnspringClient> current =
      OnspringClient::Create(
          transport, transport,
          {.base_url = std::string(kBaseUrl), .api_key = std::string(kApiKey), .page_size = 2})
          .value();

  {
    transport.Reset();
    Outcome<absl::StatusOr<Record>> record;
    current->GetRecord(300, 1, {3001, 3002}, {}, record.Callback());
    CheckRequests(transport);
    if (record.Get().ok()) {
      CheckRecord(*record.Get());
      SaveBack(*current, transport, *record.Get());
    } else {
      CheckStatus(record.Get().status());
    }
  }

  {
    transport.Reset();
    const std::vector<int64_t> asked = {3, 1, 2, 1};
    Outcome<absl::StatusOr<std::vector<Record>>> records;
    current->BatchGetRecords(300, asked, {}, {}, records.Callback());
    CheckRequests(transport);
    if (records.Get().ok()) {
      size_t next = 0;  // index into {3, 1, 2}: the answer keeps the order asked
      const int64_t order[] = {3, 1, 2};
      for (const Record& record : *records.Get()) {
        while (next < 3 && order[next] != record.record_id) ++next;
        Check(next < 3, "batch-get answers asked ids, once each, in order");
        ++next;
        CheckRecord(record);
      }
    } else {
      CheckStatus(records.Get().status());
    }
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<std::vector<Record>>> records;
    current->QueryRecords(300, "3001 eq 'Payroll'", {3001}, {}, records.Callback());
    CheckRequests(transport);
    if (records.Get().ok()) {
      for (const Record& record : *records.Get()) CheckRecord(record);
    } else {
      CheckStatus(records.Get().status());
    }
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<std::vector<Field>>> fields;
    current->GetFieldsByApp(300, {}, fields.Callback());
    CheckRequests(transport);
    if (!fields.Get().ok()) CheckStatus(fields.Get().status());
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<SaveResult>> saved;
    current->SaveRecord(300, 0, {{3001, FieldValue::String("Payroll")}}, {}, saved.Callback());
    CheckRequests(transport);
    if (!saved.Get().ok()) CheckStatus(saved.Get().status());
  }

  {
    transport.Reset();
    Outcome<absl::Status> deleted;
    current->DeleteRecord(300, 1, {}, deleted.Callback());
    CheckRequests(transport);
    CheckStatus(deleted.Get());
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<std::string>> added;
    current->AddListValue(3401, "Cloud", {}, added.Callback());
    CheckRequests(transport);
    if (!added.Get().ok()) CheckStatus(added.Get().status());
  }
  return 0;
}
