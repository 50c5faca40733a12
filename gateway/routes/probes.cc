#include "gateway/routes/probes.h"

#include <grpcpp/client_context.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_grpc.h"
#include "gateway/routes/error_response.h"

namespace onsync::gateway {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

struct PendingCheck {
  grpc::ClientContext context;
  HealthCheckRequest request;
  HealthCheckResponse response;
  http::Respond respond;
};

}  // namespace

Probes::Probes(std::shared_ptr<grpc::Channel> channel, absl::Duration check_timeout)
    : health_(grpc::health::v1::Health::NewStub(std::move(channel))),
      check_timeout_(check_timeout) {}

void Probes::HandleHealthz(http::Request, http::Respond respond) const {
  http::Response response;
  response.body = R"({"status":"ok"})";
  std::move(respond)(std::move(response));
}

void Probes::HandleReadyz(http::Request, http::Respond respond) const {
  auto check = std::make_shared<PendingCheck>();
  check->respond = std::move(respond);
  check->context.set_deadline(absl::ToChronoTime(absl::Now() + check_timeout_));
  health_->async()->Check(
      &check->context, &check->request, &check->response, [check](grpc::Status status) {
        if (!status.ok()) {
          std::move(check->respond)(
              ErrorResponse(503, absl::StatusCode::kUnavailable,
                            absl::StrCat("server not reachable: ", status.error_message())));
          return;
        }
        const std::string& state =
            HealthCheckResponse::ServingStatus_Name(check->response.status());
        if (check->response.status() != HealthCheckResponse::SERVING) {
          std::move(check->respond)(ErrorResponse(503, absl::StatusCode::kUnavailable,
                                                  absl::StrCat("server is ", state)));
          return;
        }
        http::Response response;
        response.body = absl::StrCat(R"({"status":")", state, R"("})");
        std::move(check->respond)(std::move(response));
      });
}

}  // namespace onsync::gateway
