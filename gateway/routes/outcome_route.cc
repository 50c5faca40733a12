#include "gateway/routes/outcome_route.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/string_view.h"
#include "gateway/routes/error_response.h"
#include "gateway/routes/proto_json.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace onsync::gateway {
namespace {

using onsync::v1::SyncMode;

constexpr size_t kMaxProfileNameBytes = 63;
// How much of a rejected name an error message repeats.
constexpr size_t kQuotedNameBytes = 64;

// The first `max_bytes` bytes of `text`, shortened further so as not to end inside a UTF-8
// sequence.
std::string_view Cut(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

}  // namespace

bool IsProfileName(std::string_view name) {
  if (name.empty() || name.size() > kMaxProfileNameBytes || !absl::ascii_islower(name[0])) {
    return false;
  }
  for (const char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_' && c != '-') return false;
  }
  return true;
}

absl::StatusOr<SyncMode> SyncModeFromQuery(std::string_view query) {
  std::optional<SyncMode> mode;
  for (const absl::string_view parameter : absl::StrSplit(ToAbsl(query), '&')) {
    const std::pair<absl::string_view, absl::string_view> name_value =
        absl::StrSplit(parameter, absl::MaxSplits('=', 1));
    if (name_value.first != "mode") continue;
    if (mode.has_value()) return absl::InvalidArgumentError("mode: given more than once");
    const absl::string_view value = name_value.second;
    if (value == "respond") {
      mode = onsync::v1::SYNC_MODE_RESPOND;
    } else if (value == "write_back") {
      mode = onsync::v1::SYNC_MODE_WRITE_BACK;
    } else if (value == "dry_run") {
      mode = onsync::v1::SYNC_MODE_DRY_RUN;
    } else {
      return absl::InvalidArgumentError("mode: must be respond, write_back or dry_run");
    }
  }
  return mode.value_or(onsync::v1::SYNC_MODE_UNSPECIFIED);
}

absl::StatusOr<std::string> OutcomeResponseBody(const onsync::v1::SyncResult& result) {
  if (result.mode() == onsync::v1::SYNC_MODE_RESPOND ||
      result.mode() == onsync::v1::SYNC_MODE_UNSPECIFIED) {
    return StructToJson(result.values());
  }
  return ToProto3Json(result);
}

OutcomeRoute::OutcomeRoute(std::shared_ptr<grpc::Channel> channel, RpcDeadlines deadlines)
    : caller_(std::move(channel), deadlines) {}

bool OutcomeRoute::Matches(std::string_view path) const {
  return absl::StartsWith(ToAbsl(path), ToAbsl(kOutcomesPrefix));
}

void OutcomeRoute::Handle(http::Request request, http::Respond respond) const {
  const std::string_view profile = std::string_view(request.path).substr(kOutcomesPrefix.size());
  if (!IsProfileName(profile)) {
    std::move(respond)(ErrorResponse(
        absl::NotFoundError(absl::StrCat("no profile ", JsonQuote(Cut(profile, kQuotedNameBytes)),
                                         ": profile names match [a-z][a-z0-9_-]{0,62}"))));
    return;
  }
  const absl::StatusOr<SyncMode> mode = SyncModeFromQuery(request.query);
  if (!mode.ok()) {
    std::move(respond)(ErrorResponse(mode.status()));
    return;
  }
  onsync::v1::SyncRecordRequest sync_request;
  if (std::optional<http::Response> error =
          ReadJsonObjectBody(request, *sync_request.mutable_trigger()->mutable_body())) {
    std::move(respond)(*std::move(error));
    return;
  }
  sync_request.set_profile(std::string(profile));
  sync_request.set_mode(*mode);
  caller_.Call(request, std::move(sync_request), &OutcomeResponseBody, std::move(respond));
}

}  // namespace onsync::gateway
