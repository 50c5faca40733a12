#include "gateway/routes/sync_route.h"

#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/json.h"
#include "common/string_view.h"
#include "gateway/routes/error_response.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using onsync::v1::OutputField;
using onsync::v1::Profile;
using onsync::v1::SyncRecordRequest;

constexpr double kMaxId = 2147483647;

// The body's members, in the order they are checked.
constexpr char kServiceNowBaseUrl[] = "serviceNowBaseUrl";
constexpr char kAppName[] = "appName";
constexpr char kUserAppId[] = "onspringUserAppId";
constexpr char kFirstNameFieldId[] = "onspringUserFirstNameFieldId";
constexpr char kLastNameFieldId[] = "onspringUserLastNameFieldId";
constexpr char kUsernameFieldId[] = "onspringUserUsernameFieldId";
constexpr char kEmailFieldId[] = "onspringUserEmailFieldId";
constexpr char kFullNameFieldId[] = "onspringUserFullNameFieldId";
constexpr char kStatusFieldId[] = "onspringUserStatusFieldId";
constexpr char kTierFieldId[] = "onspringUserTierFieldId";
constexpr char kRegTypeAppId[] = "onspringRegTypeAppId";
constexpr char kRegTypeIdFieldId[] = "onspringRegTypeIdFieldId";
constexpr char kStatusValue[] = "onspringUserStatusValue";
constexpr char kTierValue[] = "onspringUserTierValue";

// The id members, in the order they are checked.
constexpr const char* kIdMembers[] = {
    kUserAppId,       kFirstNameFieldId, kLastNameFieldId, kUsernameFieldId, kEmailFieldId,
    kFullNameFieldId, kStatusFieldId,    kTierFieldId,     kRegTypeAppId,    kRegTypeIdFieldId};

// The fields a created user is written with: their ids must be distinct.
constexpr const char* kCreatedUserFields[] = {kFirstNameFieldId, kLastNameFieldId, kUsernameFieldId,
                                              kEmailFieldId,     kStatusFieldId,   kTierFieldId};

// The PoC's response keys, in its order.
constexpr const char* kResponseKeys[] = {"appName",     "shortName",  "description",
                                         "installType", "cloudModel", "appOwner",
                                         "itOwner",     "l3",         "regulatory"};

absl::Status Invalid(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(ToAbsl(field), ": ", ToAbsl(rule)));
}

const char* KindName(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    default:
      return "null";
  }
}

// The member `name` of `body`, or nullptr when it is absent.
const Value* Member(const Struct& body, const char* name) {
  const auto it = body.fields().find(name);
  return it == body.fields().end() ? nullptr : &it->second;
}

absl::StatusOr<std::string> RequiredString(const Struct& body, const char* name) {
  const Value* value = Member(body, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (value->kind_case() != Value::kStringValue) {
    return Invalid(name, absl::StrCat("must be a non-empty string, not ", KindName(*value)));
  }
  if (value->string_value().empty()) return Invalid(name, "must be a non-empty string");
  return value->string_value();
}

absl::StatusOr<int32_t> RequiredId(const Struct& body, const char* name) {
  const Value* value = Member(body, name);
  if (value == nullptr) return Invalid(name, "is required");
  if (value->kind_case() != Value::kNumberValue) {
    return Invalid(name, absl::StrCat("must be an integer >= 1, not ", KindName(*value)));
  }
  const double number = value->number_value();
  if (!(number >= 1) || number != std::trunc(number)) {
    return Invalid(name, "must be an integer >= 1");
  }
  if (number > kMaxId) return Invalid(name, "must be an integer <= 2147483647");
  return static_cast<int32_t>(number);
}

// A value used literally in a create template, which has no escape for braces.
absl::StatusOr<std::string> RequiredLiteral(const Struct& body, const char* name) {
  absl::StatusOr<std::string> value = RequiredString(body, name);
  if (value.ok() && value->find_first_of("{}") != std::string::npos) {
    return Invalid(name, "must not contain { or } (the value is used as literal template text)");
  }
  return value;
}

bool IsHostChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_'; }

// An absolute http:// or https:// URL with a non-empty host, an optional numeric port, no user
// info, and no whitespace or control characters.
bool IsHttpUrlWithHost(std::string_view url) {
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) return false;
  }
  absl::string_view rest = ToAbsl(url);
  const size_t scheme_end = rest.find("://");
  if (scheme_end == absl::string_view::npos) return false;
  const std::string scheme = absl::AsciiStrToLower(rest.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return false;
  rest.remove_prefix(scheme_end + 3);
  absl::string_view host = rest.substr(0, rest.find_first_of("/?#"));  // the authority, so far
  std::optional<absl::string_view> port;
  if (absl::ConsumePrefix(&host, "[")) {  // an IPv6 literal
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return false;
    const absl::string_view after = host.substr(close + 1);
    host = host.substr(0, close);
    for (const char c : host) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return false;
    }
    if (!after.empty()) {
      if (after[0] != ':') return false;
      port = after.substr(1);
    }
  } else {
    if (const size_t colon = host.find(':'); colon != absl::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    for (const char c : host) {
      if (!IsHostChar(c)) return false;  // also rejects user info (`@`)
    }
  }
  if (host.empty()) return false;
  if (port.has_value()) {
    int number = 0;
    if (port->empty() || port->size() > 5 || !absl::c_all_of(*port, absl::ascii_isdigit) ||
        !absl::SimpleAtoi(*port, &number) || number > 65535) {
      return false;
    }
  }
  return true;
}

OutputField TextField(const char* from) {
  OutputField field;
  field.set_from(from);
  field.mutable_text();
  return field;
}

absl::StatusOr<std::string> RenderPocResult(const onsync::v1::SyncResult& result) {
  return PocResponseBody(result.values());
}

// The header `name` when present and not blank.
std::optional<std::string_view> Credential(const http::Request& request, std::string_view name) {
  const std::optional<std::string_view> value = request.Header(name);
  if (!value || absl::StripAsciiWhitespace(ToAbsl(*value)).empty()) return std::nullopt;
  return value;
}

}  // namespace

absl::StatusOr<SyncRecordRequest> PocSyncRequest(const Struct& body, std::string_view authorization,
                                                 std::string_view api_key) {
  const absl::StatusOr<std::string> url = RequiredString(body, kServiceNowBaseUrl);
  if (!url.ok()) return url.status();
  if (!IsHttpUrlWithHost(*url)) {
    return Invalid(kServiceNowBaseUrl,
                   "must be an absolute http:// or https:// URL with a host (and no user info)");
  }
  const absl::StatusOr<std::string> app_name = RequiredString(body, kAppName);
  if (!app_name.ok()) return app_name.status();

  std::map<std::string_view, int32_t> ids;
  for (const char* name : kIdMembers) {
    const absl::StatusOr<int32_t> id = RequiredId(body, name);
    if (!id.ok()) return id.status();
    ids[name] = *id;
  }
  const absl::StatusOr<std::string> status_value = RequiredLiteral(body, kStatusValue);
  if (!status_value.ok()) return status_value.status();
  const absl::StatusOr<std::string> tier_value = RequiredLiteral(body, kTierValue);
  if (!tier_value.ok()) return tier_value.status();

  for (size_t i = 0; i < std::size(kCreatedUserFields); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const int32_t id = ids[kCreatedUserFields[i]];
      if (id == ids[kCreatedUserFields[j]]) {
        return Invalid(kCreatedUserFields[i],
                       absl::StrCat("must differ from ", kCreatedUserFields[j], " (both are ", id,
                                    "): a created user's fields would collide"));
      }
    }
  }

  SyncRecordRequest request;
  Profile& profile = *request.mutable_inline_profile();
  profile.set_description("POST /sync (the PoC's route)");
  profile.mutable_source()->set_table("cmdb_ci_business_app");
  profile.mutable_source()->set_key_field("name");
  profile.set_mode(onsync::v1::PROFILE_MODE_RESPOND);

  auto& fields = *profile.mutable_fields();
  fields["appName"] = TextField("name");
  fields["shortName"] = TextField("number");
  fields["description"] = TextField("short_description");
  fields["installType"] = TextField("install_type");
  fields["cloudModel"] = TextField("u_cloud_model");

  onsync::v1::ReferenceKind user;
  user.set_app_id(ids[kUserAppId]);
  user.set_match_field_id(ids[kFullNameFieldId]);
  user.set_on_missing(onsync::v1::ON_MISSING_CREATE);
  auto& create = *user.mutable_create();
  create[ids[kFirstNameFieldId]] = "{value|first_word}";
  create[ids[kLastNameFieldId]] = "{value|rest_words}";
  create[ids[kUsernameFieldId]] = "{value|first_space_to_dot|lower}";
  create[ids[kEmailFieldId]] = "{value|first_space_to_dot|lower}@example.com";
  create[ids[kStatusFieldId]] = *status_value;
  create[ids[kTierFieldId]] = *tier_value;
  for (const auto& [output, from] :
       {std::pair{"appOwner", "it_application_owner.name"},
        std::pair{"itOwner", "u_primary_it_owner.name"}, std::pair{"l3", "u_l3_name.name"}}) {
    OutputField& field = fields[output];
    field.set_from(from);
    *field.mutable_reference() = user;
  }

  OutputField& regulatory = fields["regulatory"];
  regulatory.set_from("u_regulatory_legal_and_compliance");
  regulatory.set_split(",");
  regulatory.set_join("|");
  regulatory.mutable_reference()->set_app_id(ids[kRegTypeAppId]);
  regulatory.mutable_reference()->set_match_field_id(ids[kRegTypeIdFieldId]);
  regulatory.mutable_reference()->set_on_missing(onsync::v1::ON_MISSING_SKIP);

  request.mutable_trigger()->set_key(*app_name);
  request.set_mode(onsync::v1::SYNC_MODE_RESPOND);
  onsync::v1::CallerConnections& connections = *request.mutable_connections();
  connections.set_servicenow_instance_url(*url);
  connections.set_servicenow_authorization(std::string(authorization));
  connections.set_onspring_api_key(std::string(api_key));
  return request;
}

std::string PocResponseBody(const Struct& values) {
  std::string body = "{";
  for (const char* key : kResponseKeys) {
    if (body.size() > 1) body.push_back(',');
    const auto it = values.fields().find(key);
    absl::StrAppend(
        &body, JsonQuote(key), ":",
        ValueToJson(it == values.fields().end() ? Value::default_instance() : it->second));
  }
  body.push_back('}');
  return body;
}

SyncRoute::SyncRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines)
    : caller_(std::move(channel), deadlines) {}

void SyncRoute::Handle(http::Request request, http::Respond respond) const {
  const std::optional<std::string_view> authorization = Credential(request, "authorization");
  if (!authorization) {
    std::move(respond)(ErrorResponse(absl::UnauthenticatedError(
        "the Authorization header (the ServiceNow credentials) is required")));
    return;
  }
  const std::optional<std::string_view> api_key = Credential(request, "x-apikey");
  if (!api_key) {
    std::move(respond)(ErrorResponse(
        absl::UnauthenticatedError("the x-apikey header (the Onspring API key) is required")));
    return;
  }
  Struct body;
  if (std::optional<http::Response> error = ReadJsonObjectBody(request, body)) {
    std::move(respond)(*std::move(error));
    return;
  }
  absl::StatusOr<SyncRecordRequest> sync_request = PocSyncRequest(body, *authorization, *api_key);
  if (!sync_request.ok()) {
    std::move(respond)(ErrorResponse(sync_request.status()));
    return;
  }
  caller_.Call(request, *std::move(sync_request), &RenderPocResult, std::move(respond));
}

}  // namespace onsync::gateway
