#include "gateway/routes/sync_call.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json.h"
#include "common/status_grpc.h"
#include "common/string_view.h"
#include "gateway/routes/error_response.h"
#include "google/protobuf/util/json_util.h"

namespace onsync::gateway {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using onsync::v1::SyncRecordRequest;
using onsync::v1::SyncRecordResponse;

// Everything one call needs until its completion callback runs.
struct PendingSync {
  grpc::ClientContext context;
  SyncRecordRequest request;
  SyncRecordResponse response;
  RenderSyncResult render = nullptr;
  http::Respond respond;
};

std::string NumberToJson(double number) {
  if (!std::isfinite(number)) return "null";  // JSON has no NaN or infinity
  if (number == std::trunc(number)) {
    if (number == 0) return "0";  // also for -0
    return absl::StrFormat("%.0f", number);
  }
  for (const int precision : {15, 16}) {
    std::string text = absl::StrFormat("%.*g", precision, number);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == number) return text;
  }
  return absl::StrFormat("%.17g", number);
}

void AppendValue(const Value& value, std::string& out);

void AppendStruct(const Struct& object, std::string& out) {
  std::vector<const std::string*> keys;
  keys.reserve(object.fields_size());
  for (const auto& [key, unused] : object.fields()) keys.push_back(&key);
  std::sort(keys.begin(), keys.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  out.push_back('{');
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, JsonQuote(*keys[i]), ":");
    AppendValue(object.fields().at(*keys[i]), out);
  }
  out.push_back('}');
}

void AppendValue(const Value& value, std::string& out) {
  switch (value.kind_case()) {
    case Value::kNumberValue:
      out += NumberToJson(value.number_value());
      return;
    case Value::kStringValue:
      out += JsonQuote(value.string_value());
      return;
    case Value::kBoolValue:
      out += value.bool_value() ? "true" : "false";
      return;
    case Value::kStructValue:
      AppendStruct(value.struct_value(), out);
      return;
    case Value::kListValue: {
      out.push_back('[');
      const auto& values = value.list_value().values();
      for (int i = 0; i < values.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendValue(values[i], out);
      }
      out.push_back(']');
      return;
    }
    case Value::kNullValue:
    case Value::KIND_NOT_SET:
      out += "null";
      return;
  }
  out += "null";
}

void AppendWithoutControls(std::string_view text, std::string& out) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) out.push_back(c);
  }
}

void Complete(PendingSync& call, const grpc::Status& status) {
  if (!status.ok()) {
    std::move(call.respond)(ErrorResponse(FromGrpcStatus(status)));
    return;
  }
  if (call.response.has_job()) {
    // An ASYNC profile: the job is committed; the outcome gets its id at once.
    const onsync::v1::Job& job = call.response.job();
    std::string_view state = onsync::v1::JobState_Name(job.state());
    state.remove_prefix(std::min(state.size(), std::string_view("JOB_STATE_").size()));
    http::Response accepted;
    accepted.status = 202;
    accepted.body =
        absl::StrCat(R"({"jobId":)", JsonQuote(job.id()), R"(,"state":)", JsonQuote(state), "}");
    accepted.headers.emplace_back("Location", absl::StrCat("/v1/jobs/", job.id()));
    std::move(call.respond)(std::move(accepted));
    return;
  }
  const onsync::v1::SyncResult& result = call.response.result();
  absl::StatusOr<std::string> body = call.render(result);
  if (!body.ok()) {
    std::move(call.respond)(ErrorResponse(absl::InternalError(
        absl::StrCat("the server's result could not be rendered: ", body.status().message()))));
    return;
  }
  http::Response response;
  response.body = *std::move(body);
  if (std::string warnings = WarningsHeaderValue(result.warnings()); !warnings.empty()) {
    response.headers.emplace_back(kWarningsHeader, std::move(warnings));
  }
  std::move(call.respond)(std::move(response));
}

}  // namespace

std::string ValueToJson(const Value& value) {
  std::string out;
  AppendValue(value, out);
  return out;
}

std::string StructToJson(const Struct& object) {
  std::string out;
  AppendStruct(object, out);
  return out;
}

std::string WarningsHeaderValue(
    const google::protobuf::RepeatedPtrField<onsync::v1::Warning>& warnings) {
  std::string out;
  for (const onsync::v1::Warning& warning : warnings) {
    if (!out.empty()) out += ", ";
    AppendWithoutControls(warning.code(), out);
    if (!warning.field().empty()) {
      out.push_back(':');
      AppendWithoutControls(warning.field(), out);
    }
  }
  return out;
}

std::optional<http::Response> ReadJsonObjectBody(const http::Request& request, Struct& body) {
  const std::optional<std::string_view> content_type = request.Header("content-type");
  if (content_type && !IsJsonContentType(*content_type)) {
    return ErrorResponse(415, absl::StatusCode::kInvalidArgument,
                         "Content-Type must be application/json");
  }
  if (request.body.empty()) {
    return ErrorResponse(
        absl::InvalidArgumentError("the request body must be a JSON object: it is empty"));
  }
  if (!IsStrictJson(request.body)) {
    return ErrorResponse(absl::InvalidArgumentError(
        "the request body must be a JSON object: it is not valid JSON (RFC 8259)"));
  }
  // Struct's JSON form is an object: arrays, scalars and malformed text all fail to parse.
  const auto parsed = google::protobuf::util::JsonStringToMessage(request.body, &body);
  if (!parsed.ok()) {
    return ErrorResponse(absl::InvalidArgumentError(
        absl::StrCat("the request body must be a JSON object: ", parsed.message().as_string())));
  }
  return std::nullopt;
}

SyncCaller::SyncCaller(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines)
    : deadlines_(deadlines), stub_(onsync::v1::SyncService::NewStub(std::move(channel))) {}

void SyncCaller::Call(const http::Request& http_request, SyncRecordRequest sync_request,
                      RenderSyncResult render, http::Respond respond) const {
  auto call = std::make_shared<PendingSync>();
  if (const absl::Status configured = ConfigureCallContext(http_request, deadlines_, call->context);
      !configured.ok()) {
    std::move(respond)(ErrorResponse(configured));
    return;
  }
  call->request = std::move(sync_request);
  call->render = render;
  call->respond = std::move(respond);
  stub_->async()->SyncRecord(&call->context, &call->request, &call->response,
                             [call](grpc::Status status) { Complete(*call, status); });
}

}  // namespace onsync::gateway
