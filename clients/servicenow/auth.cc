#include "clients/servicenow/auth.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/http/http_status.h"
#include "clients/http/redact.h"
#include "clients/servicenow/encoded_query.h"
#include "clients/servicenow/origin.h"
#include "common/string_view.h"
#include "onsync/v1/config.pb.h"

namespace onsync::clients::servicenow {
namespace {

std::string StringMember(const rapidjson::Value& object, const char* name) {
  const auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

void AddSecret(const std::string& secret) {
  if (!secret.empty()) Redactor::Global().AddSecret(secret);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BasicAuthenticator

BasicAuthenticator::BasicAuthenticator(std::string_view username, std::string_view password)
    : BasicAuthenticator(FromHeaderTag{},
                         absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(
                                                    ToAbsl(username), ":", ToAbsl(password))))) {
  AddSecret(std::string(password));
}

BasicAuthenticator::BasicAuthenticator(FromHeaderTag, std::string header_value)
    : header_value_(std::move(header_value)) {
  // The encoded credentials are as secret as the password.
  const size_t space = header_value_.find(' ');
  AddSecret(space == std::string::npos ? header_value_ : header_value_.substr(space + 1));
}

std::unique_ptr<BasicAuthenticator> BasicAuthenticator::FromHeaderValue(std::string header_value) {
  return std::unique_ptr<BasicAuthenticator>(
      new BasicAuthenticator(FromHeaderTag{}, std::move(header_value)));
}

void BasicAuthenticator::Authorize(absl::Time deadline, Callback done) {
  std::move(done)(header_value_);
}

// ---------------------------------------------------------------------------------------------
// OAuthAuthenticator

absl::StatusOr<std::unique_ptr<OAuthAuthenticator>> OAuthAuthenticator::Create(
    HttpTransport& transport, const Clock& clock, OAuthOptions options) {
  absl::StatusOr<std::string> origin = InstanceOrigin(options.instance_url);
  if (!origin.ok()) return origin.status();
  if (options.client_id.empty() || options.client_secret.empty()) {
    return absl::InvalidArgumentError("ServiceNow OAuth needs a client id and a client secret");
  }
  if (options.grant == OAuthOptions::Grant::kPassword &&
      (options.username.empty() || options.password.empty())) {
    return absl::InvalidArgumentError(
        "ServiceNow OAuth password grant needs a username and a password");
  }
  if (options.refresh_margin < absl::ZeroDuration() ||
      options.token_request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("invalid ServiceNow OAuth timing options");
  }
  AddSecret(options.client_secret);
  AddSecret(options.password);
  std::string token_url = absl::StrCat(*origin, "/oauth_token.do");
  return std::unique_ptr<OAuthAuthenticator>(
      new OAuthAuthenticator(transport, clock, std::move(options), std::move(token_url)));
}

OAuthAuthenticator::OAuthAuthenticator(HttpTransport& transport, const Clock& clock,
                                       OAuthOptions options, std::string token_url)
    : transport_(transport),
      clock_(clock),
      options_(std::move(options)),
      token_url_(std::move(token_url)) {}

void OAuthAuthenticator::Authorize(absl::Time deadline, Callback done) {
  std::string header;
  bool start = false;
  bool use_refresh = false;
  {
    absl::MutexLock lock(&mu_);
    if (!header_.empty() && clock_.Now() < expires_at_) {
      header = header_;
    } else {
      waiters_.push_back(std::move(done));
      if (!in_flight_) {
        in_flight_ = true;
        start = true;
        use_refresh = !refresh_token_.empty();
      }
    }
  }
  if (!header.empty()) {
    std::move(done)(std::move(header));
    return;
  }
  if (start) Fetch(use_refresh);
}

void OAuthAuthenticator::Invalidate(std::string_view header_value) {
  absl::MutexLock lock(&mu_);
  if (!header_.empty() && header_ == header_value) {
    header_.clear();
    expires_at_ = absl::InfinitePast();
  }
}

void OAuthAuthenticator::Fetch(bool use_refresh) {
  std::string body;
  auto add = [&body](std::string_view name, std::string_view value) {
    if (!body.empty()) body += '&';
    absl::StrAppend(&body, ToAbsl(name), "=", UrlEncode(value));
  };
  if (use_refresh) {
    std::string refresh;
    {
      absl::MutexLock lock(&mu_);
      refresh = refresh_token_;
    }
    add("grant_type", "refresh_token");
    add("client_id", options_.client_id);
    add("client_secret", options_.client_secret);
    add("refresh_token", refresh);
  } else if (options_.grant == OAuthOptions::Grant::kPassword) {
    add("grant_type", "password");
    add("client_id", options_.client_id);
    add("client_secret", options_.client_secret);
    add("username", options_.username);
    add("password", options_.password);
  } else {
    add("grant_type", "client_credentials");
    add("client_id", options_.client_id);
    add("client_secret", options_.client_secret);
  }
  HttpRequest request;
  request.method = "POST";
  request.url = token_url_;
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = std::move(body);
  request.deadline = clock_.Now() + options_.token_request_timeout;
  transport_.Send(std::move(request), [this, use_refresh](absl::StatusOr<HttpResponse> response) {
    OnTokenResponse(use_refresh, std::move(response));
  });
}

void OAuthAuthenticator::OnTokenResponse(bool used_refresh, absl::StatusOr<HttpResponse> response) {
  if (!response.ok()) {
    Finish(absl::Status(response.status().code(), absl::StrCat("ServiceNow OAuth token request: ",
                                                               response.status().message())));
    return;
  }
  rapidjson::Document doc;
  doc.Parse(response->body.data(), response->body.size());
  const bool json = !doc.HasParseError() && doc.IsObject();
  const int status = response->status;
  if (status < 200 || status > 299) {
    std::string text;
    if (json) {
      const std::string error = StringMember(doc, "error");
      const std::string description = StringMember(doc, "error_description");
      text = absl::StrCat(error, error.empty() || description.empty() ? "" : ": ", description);
    }
    if (text.empty()) text = SummarizeBody(response->body);
    text = Redactor::Global().Redact(
        absl::StrCat("ServiceNow OAuth token request refused (HTTP ", status, "): ", text));
    if (status == 400 || status == 401 || status == 403) {
      if (used_refresh) {
        // The refresh token is no longer good: start over with the configured grant.
        {
          absl::MutexLock lock(&mu_);
          refresh_token_.clear();
        }
        Fetch(/*use_refresh=*/false);
        return;
      }
      Finish(absl::UnauthenticatedError(text));
    } else {
      Finish(StatusFromHttp(status, text));
    }
    return;
  }
  const std::string access_token = json ? StringMember(doc, "access_token") : "";
  if (access_token.empty()) {
    Finish(absl::UnavailableError(
        absl::StrCat("ServiceNow OAuth token response without an access_token (HTTP ", status,
                     "): ", Redactor::Global().Redact(SummarizeBody(response->body)))));
    return;
  }
  int64_t expires_in = 1800;  // ServiceNow's default lifetime, when the response omits it
  if (json) {
    const auto it = doc.FindMember("expires_in");
    if (it != doc.MemberEnd()) {
      if (it->value.IsInt64()) {
        expires_in = it->value.GetInt64();
      } else if (it->value.IsNumber()) {
        expires_in = static_cast<int64_t>(it->value.GetDouble());
      } else if (it->value.IsString()) {
        int64_t parsed = 0;
        if (absl::SimpleAtoi(it->value.GetString(), &parsed)) expires_in = parsed;
      }
    }
  }
  expires_in = std::max<int64_t>(expires_in, 0);
  const std::string refresh_token = json ? StringMember(doc, "refresh_token") : "";
  AddSecret(access_token);
  AddSecret(refresh_token);
  // A token shorter-lived than twice the margin is used for half its life instead, so that it is
  // not stale on arrival.
  const absl::Duration lifetime = absl::Seconds(expires_in);
  const absl::Duration margin = std::min(options_.refresh_margin, lifetime / 2);
  std::string header = absl::StrCat("Bearer ", access_token);
  {
    absl::MutexLock lock(&mu_);
    header_ = header;
    expires_at_ = clock_.Now() + lifetime - margin;
    // "Keep the old one if none comes back" (servicenow-api.md §3.2).
    if (!refresh_token.empty()) refresh_token_ = refresh_token;
  }
  Finish(std::move(header));
}

void OAuthAuthenticator::Finish(absl::StatusOr<std::string> header) {
  std::vector<Callback> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
    in_flight_ = false;
  }
  for (Callback& waiter : waiters) std::move(waiter)(header);
}

// ---------------------------------------------------------------------------------------------
// MakeAuthenticator

absl::StatusOr<std::unique_ptr<Authenticator>> MakeAuthenticator(
    const onsync::v1::ServiceNowConnection& connection, std::string_view password,
    std::string_view client_secret, HttpTransport& transport, const Clock& clock) {
  const onsync::v1::ServiceNowAuth& auth = connection.auth();
  switch (auth.method_case()) {
    case onsync::v1::ServiceNowAuth::kBasic: {
      if (auth.basic().username().empty() || password.empty()) {
        return absl::InvalidArgumentError("ServiceNow basic auth needs a username and a password");
      }
      return std::unique_ptr<Authenticator>(
          std::make_unique<BasicAuthenticator>(auth.basic().username(), password));
    }
    case onsync::v1::ServiceNowAuth::kOauth: {
      OAuthOptions options;
      options.instance_url = connection.instance_url();
      switch (auth.oauth().grant_type()) {
        case onsync::v1::ServiceNowOAuth::GRANT_TYPE_PASSWORD:
          options.grant = OAuthOptions::Grant::kPassword;
          break;
        case onsync::v1::ServiceNowOAuth::GRANT_TYPE_CLIENT_CREDENTIALS:
          options.grant = OAuthOptions::Grant::kClientCredentials;
          break;
        default:
          return absl::InvalidArgumentError("ServiceNow OAuth needs a grant_type");
      }
      options.client_id = auth.oauth().client_id();
      options.client_secret = std::string(client_secret);
      options.username = auth.oauth().username();
      options.password = std::string(password);
      absl::StatusOr<std::unique_ptr<OAuthAuthenticator>> oauth =
          OAuthAuthenticator::Create(transport, clock, std::move(options));
      if (!oauth.ok()) return oauth.status();
      return std::unique_ptr<Authenticator>(*std::move(oauth));
    }
    case onsync::v1::ServiceNowAuth::METHOD_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("ServiceNow auth method missing (basic or oauth)");
}

}  // namespace onsync::clients::servicenow
