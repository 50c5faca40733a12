// Fuzzes the ServiceNow Table API response parsing of TableClient (page and row parsing, the
// `{"error": …}` and `"status": "failure"` bodies, the Link header's `rel="next"`, X-Total-Count,
// Retry-After, the 401 retry, paging and LookupByKey's re-check), through the client's public
// calls with an inline fake transport that answers with the fuzz input (see inline_transport.h
// for the input format: a bare body, or `<status>\n<headers>\n\n<body>`).
//
// Invariants: no crash or undefined behaviour; every callback runs exactly once; credentials are
// only ever sent to the instance origin (no request leaves `https://acme.service-now.com/`,
// whatever Link header comes back); paging ends; no error message contains the credential;
// LookupByKey never returns a row whose key differs from the value asked for; with
// display_value=false no FieldValue has a display value.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/http/redact.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/table_client.h"
#include "common/string_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/inline_transport.h"

namespace {

using onsync::clients::HttpResponse;
using onsync::clients::servicenow::Authenticator;
using onsync::clients::servicenow::DisplayValue;
using onsync::clients::servicenow::Row;
using onsync::clients::servicenow::TableClient;
using onsync::clients::servicenow::TablePage;
using onsync::fuzz::Check;
using onsync::fuzz::InlineTransport;
using onsync::fuzz::Outcome;

constexpr std::string_view kOrigin = "https://acme.service-now.com";
// The credential: "Basic " + base64("fuzz:fuzz-secret-pw").
constexpr std::string_view kCredential = "ZnV6ejpmdXp6LXNlY3JldC1wdw==";

// Hands out fixed Basic credentials at once; claims it can refresh, so that a 401 is retried.
class FakeAuthenticator final : public Authenticator {
 public:
  void Authorize(absl::Time deadline, Callback done) override {
    std::move(done)(absl::StrCat("Basic ", onsync::ToAbsl(kCredential)));
  }
  void Invalidate(std::string_view header_value) override {}
  bool CanRefresh() const override { return true; }
};

void CheckStatus(const absl::Status& status) {
  Check(!absl::StrContains(status.message(), onsync::ToAbsl(kCredential)),
        "an error message shows the credential", onsync::ToStd(status.message()));
}

void CheckRequests(const InlineTransport& transport) {
  for (const onsync::clients::HttpRequest& request : transport.requests()) {
    Check(absl::StartsWith(request.url, absl::StrCat(onsync::ToAbsl(kOrigin), "/")),
          "credentials are only sent to the instance", request.url);
  }
}

void CheckRow(const Row& row, DisplayValue dv) {
  if (dv != DisplayValue::kFalse) return;
  for (const auto& [name, field] : row.fields) {
    Check(field.display_value.empty(), "display_value=false gives no display values", name);
  }
}

HttpResponse EmptyPage() {
  HttpResponse response;
  response.status = 200;
  response.body = R"({"result":[]})";
  return response;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool registered = [] {
    // As configuration loading does for every secret it reads.
    onsync::clients::Redactor::Global().AddSecret(std::string(kCredential));
    return true;
  }();
  (void)registered;

  const HttpResponse response =
      onsync::fuzz::ParseFuzzResponse(std::string_view(reinterpret_cast<const char*>(data), size));
  // Three pages of the fuzzed response (each call), then empty pages.
  InlineTransport transport(response, 3, EmptyPage());
  FakeAuthenticator authenticator;
  absl::StatusOr<std::unique_ptr<TableClient>> client =
      TableClient::Create(transport, transport, authenticator, kOrigin);
  Check(client.ok(), "the client is created");

  for (DisplayValue dv : {DisplayValue::kFalse, DisplayValue::kTrue, DisplayValue::kAll}) {
    transport.Reset();
    Outcome<absl::StatusOr<TablePage>> page;
    (*client)->List({.table = "cmdb_ci_business_app",
                     .query = "name=Payroll",
                     .fields = {"name", "it_application_owner.name"},
                     .display_value = dv,
                     .limit = 2},
                    page.Callback());
    CheckRequests(transport);
    if (page.Get().ok()) {
      for (const Row& row : page.Get()->rows) CheckRow(row, dv);
    } else {
      CheckStatus(page.Get().status());
    }
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<Row>> row;
    (*client)->Get({.table = "cmdb_ci_business_app",
                    .sys_id = "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                    .display_value = DisplayValue::kAll},
                   row.Callback());
    CheckRequests(transport);
    if (!row.Get().ok()) CheckStatus(row.Get().status());
  }

  {
    transport.Reset();
    constexpr std::string_view kKey = "Payroll";
    Outcome<absl::StatusOr<std::optional<Row>>> found;
    (*client)->LookupByKey({.table = "cmdb_ci_business_app",
                            .key_field = "name",
                            .value = std::string(kKey),
                            .fields = {"name", "sys_id"}},
                           found.Callback());
    CheckRequests(transport);
    if (!found.Get().ok()) {
      CheckStatus(found.Get().status());
    } else if (found.Get()->has_value()) {
      const std::optional<std::string_view> key = (**found.Get()).Value("name");
      Check(key.has_value() && *key == kKey, "LookupByKey returns only an exact match");
    }
  }

  {
    transport.Reset();
    Outcome<absl::StatusOr<std::vector<Row>>> rows;
    (*client)->ListAll({.table = "sys_user", .fields = {"name"}, .limit = 2}, rows.Callback());
    CheckRequests(transport);
    if (rows.Get().ok()) {
      for (const Row& row : *rows.Get()) CheckRow(row, DisplayValue::kFalse);
    } else {
      CheckStatus(rows.Get().status());
    }
  }
  return 0;
}
