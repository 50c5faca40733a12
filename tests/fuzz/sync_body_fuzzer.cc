// Fuzzes the PoC's `POST /sync` body validation: ReadJsonObjectBody (JSON text -> Struct) then
// PocSyncRequest (the field rules and the translation into a SyncRecordRequest with an inline
// profile), plus PocResponseBody over the same Struct.
//
// Invariants: no crash or undefined behaviour; every refusal is a 400 whose body is JSON, and a
// rule violation is INVALID_ARGUMENT whose message starts with the offending field's name; an
// accepted body yields a request whose inline profile passes the server's own check
// (config::ValidateProfile, which the server runs on inline profiles), whose trigger key is the
// body's `appName` and whose ServiceNow URL is the body's `serviceNowBaseUrl`; PocResponseBody is
// always JSON.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "gateway/routes/error_response.h"
#include "gateway/routes/sync_call.h"
#include "gateway/routes/sync_route.h"
#include "google/protobuf/struct.pb.h"
#include "server/config/config_loader.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using google::protobuf::Struct;
using onsync::fuzz::Check;

constexpr std::string_view kAuthorization = "Basic YWRtaW46c2FuZGJveA==";
constexpr std::string_view kApiKey = "sandbox-key";

constexpr const char* kFields[] = {"serviceNowBaseUrl",           "appName",
                                   "onspringUserAppId",           "onspringUserFirstNameFieldId",
                                   "onspringUserLastNameFieldId", "onspringUserUsernameFieldId",
                                   "onspringUserEmailFieldId",    "onspringUserFullNameFieldId",
                                   "onspringUserStatusFieldId",   "onspringUserTierFieldId",
                                   "onspringRegTypeAppId",        "onspringRegTypeIdFieldId",
                                   "onspringUserStatusValue",     "onspringUserTierValue"};

bool NamesAField(std::string_view message) {
  for (const char* field : kFields) {
    if (absl::StartsWith(absl::string_view(message.data(), message.size()),
                         std::string(field) + ": ")) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  onsync::http::Request request;
  request.method = "POST";
  request.target = request.path = "/sync";
  request.headers = {{"authorization", std::string(kAuthorization)},
                     {"x-apikey", std::string(kApiKey)},
                     {"content-type", "application/json"}};
  request.body.assign(reinterpret_cast<const char*>(data), size);

  Struct body;
  if (std::optional<onsync::http::Response> error =
          onsync::gateway::ReadJsonObjectBody(request, body)) {
    Check(error->status == 400, "a refused body is answered 400");
    Check(onsync::fuzz::IsJson(error->body), "the error body is JSON", error->body);
    return 0;
  }

  const std::string response = onsync::gateway::PocResponseBody(body);
  Check(onsync::fuzz::IsJson(response), "PocResponseBody is JSON", response);

  absl::StatusOr<onsync::v1::SyncRecordRequest> sync =
      onsync::gateway::PocSyncRequest(body, kAuthorization, kApiKey);
  if (!sync.ok()) {
    Check(sync.status().code() == absl::StatusCode::kInvalidArgument,
          "a refused body is INVALID_ARGUMENT", sync.status().ToString());
    const std::string message(sync.status().message());
    Check(NamesAField(message), "the message starts with the field's name", message);
    const onsync::http::Response error = onsync::gateway::ErrorResponse(sync.status());
    Check(error.status == 400, "a refused body is answered 400");
    Check(onsync::fuzz::IsJson(error.body), "the error body is JSON", error.body);
    return 0;
  }

  const absl::Status valid =
      onsync::config::ValidateProfile("inline_profile", sync->inline_profile());
  Check(valid.ok(), "the server accepts the inline profile the gateway built", valid.ToString());
  Check(sync->trigger().key() == body.fields().at("appName").string_value(),
        "the trigger key is appName");
  Check(sync->connections().servicenow_instance_url() ==
            body.fields().at("serviceNowBaseUrl").string_value(),
        "the instance URL is serviceNowBaseUrl");
  Check(sync->connections().servicenow_authorization() == kAuthorization,
        "the Authorization header is forwarded as is");
  Check(sync->connections().onspring_api_key() == kApiKey, "the API key is forwarded as is");
  return 0;
}
