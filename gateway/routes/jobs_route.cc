#include "gateway/routes/jobs_route.h"

#include <grpcpp/client_context.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status_grpc.h"
#include "gateway/routes/error_response.h"
#include "gateway/routes/proto_json.h"

namespace onsync::gateway {
namespace {

bool IsJobId(std::string_view id) {
  if (id.size() < 3 || id.size() > 66 || id.substr(0, 2) != "j_") return false;
  for (char c : id.substr(2)) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

struct PendingGet {
  grpc::ClientContext context;
  onsync::v1::GetJobRequest request;
  onsync::v1::GetJobResponse response;
  http::Respond respond;
};

}  // namespace

JobsRoute::JobsRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines)
    : deadlines_(deadlines), stub_(onsync::v1::SyncService::NewStub(std::move(channel))) {}

bool JobsRoute::Matches(std::string_view path) const { return path.starts_with(kJobsPrefix); }

void JobsRoute::Handle(http::Request request, http::Respond respond) const {
  const std::string_view id = std::string_view(request.path).substr(kJobsPrefix.size());
  if (!IsJobId(id)) {
    return std::move(respond)(ErrorResponse(absl::NotFoundError(
        absl::StrCat("no job ", JsonQuote(id.substr(0, 64)), ": job ids look like j_01J..."))));
  }
  auto call = std::make_shared<PendingGet>();
  if (absl::Status configured = ConfigureCallContext(request, deadlines_, call->context);
      !configured.ok()) {
    return std::move(respond)(ErrorResponse(configured));
  }
  call->request.set_job_id(std::string(id));
  call->respond = std::move(respond);
  stub_->async()->GetJob(&call->context, &call->request, &call->response,
                         [call](grpc::Status status) {
                           if (!status.ok()) {
                             return std::move(call->respond)(ErrorResponse(FromGrpcStatus(status)));
                           }
                           absl::StatusOr<std::string> json = ToProto3Json(call->response.job());
                           if (!json.ok()) {
                             return std::move(call->respond)(ErrorResponse(json.status()));
                           }
                           http::Response response;
                           response.body = *std::move(json);
                           std::move(call->respond)(std::move(response));
                         });
}

}  // namespace onsync::gateway
