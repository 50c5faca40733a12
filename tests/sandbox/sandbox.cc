#include "tests/sandbox/sandbox.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/http/curl_transport.h"
#include "common/string_view.h"
#include "spdlog/spdlog.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/url.h"

namespace onsync::sandbox {

// Defined in the generated default_seed.cc (from seed/default.json).
std::string_view DefaultSeedText();

namespace {

constexpr size_t kMaxLoggedBody = 64 << 10;
constexpr absl::Duration kShutdownGrace = absl::Seconds(1);
constexpr absl::Duration kOutcomeDrain = absl::Seconds(5);

http::Response AdminJson(int status, std::string body) {
  http::Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

http::Response AdminError(int status, std::string_view message) {
  JsonWriter out;
  out.StartObject().Member("error", message).EndObject();
  return AdminJson(status, out.str());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read seed file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "http://HOST:PORT" for a bound listener; wildcard hosts become the loopback address.
std::string Origin(std::string_view listen_host, int port) {
  std::string host(listen_host);
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  if (host == "localhost") host = "127.0.0.1";
  return absl::StrCat("http://", host, ":", port);
}

// The kind of authentication a request carries, and (Basic only) the user name.
std::pair<std::string, std::string> AuthKind(const http::Request& request) {
  if (auto header = request.Header("authorization")) {
    const absl::string_view value = absl::StripAsciiWhitespace(ToAbsl(*header));
    if (absl::StartsWithIgnoreCase(value, "basic ")) {
      absl::StatusOr<std::string> decoded =
          Base64Decode(ToStd(absl::StripAsciiWhitespace(value.substr(6))));
      std::string user;
      if (decoded.ok()) user = decoded->substr(0, decoded->find(':'));
      return {"basic", user};
    }
    if (absl::StartsWithIgnoreCase(value, "bearer ")) return {"bearer", ""};
    return {"other", ""};
  }
  if (request.Header("x-apikey").has_value() || request.Header("x-sn-apikey").has_value()) {
    return {"apikey", ""};
  }
  return {"none", ""};
}

}  // namespace

std::string_view Sandbox::DefaultSeed() { return DefaultSeedText(); }

Sandbox::Sandbox(SandboxOptions options) : options_(std::move(options)) {}

Sandbox::~Sandbox() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Start(SandboxOptions options) {
  absl::StatusOr<HostPort> servicenow_address = ParseHostPort(options.servicenow_listen);
  if (!servicenow_address.ok()) return servicenow_address.status();
  absl::StatusOr<HostPort> onspring_address = ParseHostPort(options.onspring_listen);
  if (!onspring_address.ok()) return onspring_address.status();
  if (!options.allow_non_loopback) {
    for (const HostPort* address : {&*servicenow_address, &*onspring_address}) {
      if (!IsLoopbackHost(address->host)) {
        return absl::InvalidArgumentError(
            absl::StrCat("refusing to listen on non-loopback address ", address->host,
                         " (the fakes use published credentials); use --allow-non-loopback"));
      }
    }
  }
  if (options.threads < 1) return absl::InvalidArgumentError("threads must be positive");

  std::string seed_text;
  if (!options.seed_json.empty()) {
    seed_text = options.seed_json;
  } else if (!options.seed_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(options.seed_file);
    if (!text.ok()) return text.status();
    seed_text = *std::move(text);
  } else {
    seed_text = std::string(DefaultSeedText());
  }
  absl::StatusOr<rapidjson::Document> seed = ParseJson(seed_text);
  if (!seed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("seed: ", seed.status().message()));
  }
  if (!seed->IsObject() || FindMember(*seed, "servicenow") == nullptr ||
      FindMember(*seed, "onspring") == nullptr) {
    return absl::InvalidArgumentError(
        "seed: expected {\"servicenow\": {...}, \"onspring\": {...}}");
  }

  std::unique_ptr<Sandbox> sandbox(new Sandbox(std::move(options)));
  Sandbox& s = *sandbox;
  s.seed_ = *std::move(seed);
  FaultConfig servicenow_faults = s.options_.servicenow_faults;
  FaultConfig onspring_faults = s.options_.onspring_faults;
  servicenow_faults.latency += s.options_.latency;
  onspring_faults.latency += s.options_.latency;
  s.servicenow_faults_.Set(servicenow_faults);
  s.onspring_faults_.Set(onspring_faults);

  absl::StatusOr<std::unique_ptr<ServiceNowFake>> servicenow =
      ServiceNowFake::Create(s.seed_["servicenow"]);
  if (!servicenow.ok()) return servicenow.status();
  s.servicenow_ = *std::move(servicenow);
  absl::StatusOr<std::unique_ptr<OnspringFake>> onspring =
      OnspringFake::Create(s.seed_["onspring"]);
  if (!onspring.ok()) return onspring.status();
  s.onspring_ = *std::move(onspring);

  s.transport_ = s.options_.outcome_transport;
  if (s.transport_ == nullptr) {
    clients::CurlTransportOptions curl_options;
    curl_options.user_agent = "Onspring-sandbox/1.0";
    absl::StatusOr<std::unique_ptr<clients::CurlTransport>> curl =
        clients::CurlTransport::Create(curl_options);
    if (!curl.ok()) return curl.status();
    s.transport_ = std::shared_ptr<clients::HttpTransport>(*std::move(curl));
  }
  s.outcomes_ =
      std::make_unique<OutcomeSimulator>(s.transport_.get(), &s.timer_, s.onspring_.get());
  s.onspring_->SetSaveListener(s.outcomes_.get());
  if (absl::Status status = s.LoadSeed(s.seed_); !status.ok()) return status;

  http::ServerOptions server_options;
  server_options.threads = s.options_.threads;
  server_options.max_body_bytes = 8 << 20;
  server_options.listen = s.options_.servicenow_listen;
  absl::StatusOr<std::unique_ptr<http::Server>> servicenow_server =
      http::Server::Start(server_options, [&s](http::Request request, http::Respond respond) {
        s.Serve(FakeKind::kServiceNow, std::move(request), std::move(respond));
      });
  if (!servicenow_server.ok()) return servicenow_server.status();
  s.servicenow_server_ = *std::move(servicenow_server);
  server_options.listen = s.options_.onspring_listen;
  absl::StatusOr<std::unique_ptr<http::Server>> onspring_server =
      http::Server::Start(server_options, [&s](http::Request request, http::Respond respond) {
        s.Serve(FakeKind::kOnspring, std::move(request), std::move(respond));
      });
  if (!onspring_server.ok()) return onspring_server.status();
  s.onspring_server_ = *std::move(onspring_server);

  s.servicenow_port_ = s.servicenow_server_->port();
  s.onspring_port_ = s.onspring_server_->port();
  s.servicenow_url_ = Origin(servicenow_address->host, s.servicenow_port_);
  s.onspring_url_ = Origin(onspring_address->host, s.onspring_port_);
  s.servicenow_->SetOrigin(s.servicenow_url_);
  s.onspring_->SetOrigin(s.onspring_url_);
  std::string outcome_url = s.options_.outcome_url;
  while (absl::EndsWith(outcome_url, "/")) outcome_url.pop_back();
  s.outcomes_->SetSubstitutions({outcome_url, s.servicenow_url_, s.onspring_url_});
  return sandbox;
}

absl::Status Sandbox::LoadSeed(const rapidjson::Value& seed) {
  if (absl::Status status = servicenow_->Reset(seed["servicenow"]); !status.ok()) return status;
  if (absl::Status status = onspring_->Reset(seed["onspring"]); !status.ok()) return status;
  if (options_.access_token_lifetime.has_value()) {
    // Re-apply the override on a copy of the seed's ServiceNow member.
    rapidjson::Document copy;
    copy.CopyFrom(seed["servicenow"], copy.GetAllocator());
    copy.RemoveMember("access_token_lifetime_s");
    copy.AddMember("access_token_lifetime_s",
                   rapidjson::Value(absl::ToInt64Seconds(*options_.access_token_lifetime)),
                   copy.GetAllocator());
    if (absl::Status status = servicenow_->Reset(copy); !status.ok()) return status;
  }
  std::vector<OutcomeConfig> outcomes;
  absl::Status status;
  const rapidjson::Value* list = FindMember(seed["onspring"], "outcomes");
  if (list != nullptr && !list->IsArray()) {
    return absl::InvalidArgumentError("onspring.outcomes: expected an array");
  }
  if (list != nullptr) {
    onspring_->WithStore([&](const OsStore& store) {
      for (const rapidjson::Value& json : list->GetArray()) {
        absl::StatusOr<OutcomeConfig> outcome = ParseOutcomeConfig(json, store);
        if (!outcome.ok()) {
          status = absl::InvalidArgumentError(
              absl::StrCat("onspring.outcomes: ", outcome.status().message()));
          return;
        }
        outcomes.push_back(*std::move(outcome));
      }
    });
  }
  if (!status.ok()) return status;
  outcomes_->Reset(std::move(outcomes));
  return absl::OkStatus();
}

absl::Status Sandbox::Reset() {
  if (absl::Status status = LoadSeed(seed_); !status.ok()) return status;
  FaultConfig servicenow_faults = options_.servicenow_faults;
  FaultConfig onspring_faults = options_.onspring_faults;
  servicenow_faults.latency += options_.latency;
  onspring_faults.latency += options_.latency;
  servicenow_faults_.Set(servicenow_faults);
  onspring_faults_.Set(onspring_faults);
  request_log_.Clear();
  return absl::OkStatus();
}

void Sandbox::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (servicenow_server_ != nullptr) servicenow_server_->Shutdown(kShutdownGrace);
  if (onspring_server_ != nullptr) onspring_server_->Shutdown(kShutdownGrace);
  if (outcomes_ != nullptr) outcomes_->BeginShutdown();
  if (options_.outcome_transport == nullptr && transport_ != nullptr) {
    // Requests in flight complete with CANCELLED.
    static_cast<clients::CurlTransport*>(transport_.get())->Shutdown();
  }
  // Runs pending delayed responses (their connections are gone) and outcome retries (which give
  // up now).
  timer_.Shutdown();
  if (outcomes_ != nullptr && !outcomes_->WaitIdle(kOutcomeDrain)) {
    spdlog::warn("sandbox: outcome runs still in flight at shutdown");
  }
}

FaultConfig Sandbox::GetFaults(FakeKind fake) const {
  return fake == FakeKind::kServiceNow ? servicenow_faults_.Get() : onspring_faults_.Get();
}

void Sandbox::SetFaults(FakeKind fake, FaultConfig config) {
  injector(fake).Set(std::move(config));
}

absl::StatusOr<int64_t> Sandbox::AddOutcome(std::string_view json) {
  absl::StatusOr<rapidjson::Document> document = ParseJson(json);
  if (!document.ok()) return document.status();
  absl::StatusOr<OutcomeConfig> outcome = absl::InternalError("unset");
  onspring_->WithStore(
      [&](const OsStore& store) { outcome = ParseOutcomeConfig(*document, store); });
  if (!outcome.ok()) return outcome.status();
  return outcomes_->Add(*std::move(outcome));
}

void Sandbox::Serve(FakeKind fake, http::Request request, http::Respond respond) {
  if (absl::StartsWith(request.path, "/__admin/") || request.path == "/__admin") {
    std::move(respond)(Admin(fake, request));
    return;
  }
  const absl::Time start = absl::Now();
  const FaultDecision decision = injector(fake).Decide(request.path);
  FakeResult result;
  if (decision.fail && decision.truncated) {
    result =
        fake == FakeKind::kServiceNow ? servicenow_->Handle(request) : onspring_->Handle(request);
    result.response.status = decision.status;
    result.response.body.resize(result.response.body.size() / 2);
  } else if (decision.fail) {
    result.response =
        fake == FakeKind::kServiceNow
            ? ServiceNowFake::FaultResponse(decision.status, decision.html, decision.retry_after_s)
            : OnspringFake::FaultResponse(decision.status, decision.html, decision.retry_after_s);
    result.route = fake == FakeKind::kServiceNow
                       ? ServiceNowFake::RouteOf(request.method, request.path)
                       : OnspringFake::RouteOf(request.method, request.path);
  } else {
    result =
        fake == FakeKind::kServiceNow ? servicenow_->Handle(request) : onspring_->Handle(request);
  }

  RequestLogEntry entry;
  entry.fake = fake;
  entry.time = start;
  entry.method = request.method;
  entry.path = request.path;
  entry.route = result.route;
  for (const QueryParam& param : ParseQuery(request.query)) {
    entry.query.emplace_back(param.key, param.value);
  }
  for (const auto& [name, value] : request.headers) {
    entry.headers.emplace_back(name, MaskHeader(name, value));
  }
  std::tie(entry.auth, entry.user) = AuthKind(request);
  if (entry.user.empty()) entry.user = result.user;
  entry.body = result.log_body_set
                   ? result.log_body
                   : request.body.substr(0, std::min(request.body.size(), kMaxLoggedBody));
  entry.status = result.response.status;
  entry.fault = decision.name;
  entry.delay_ms = absl::ToInt64Milliseconds(decision.delay);
  spdlog::debug("{} {} {} -> {}", FakeName(fake), request.method, request.target,
                result.response.status);
  request_log_.Add(std::move(entry));

  if (decision.delay > absl::ZeroDuration()) {
    timer_.RunAfter(decision.delay, [respond = std::move(respond),
                                     response = std::move(result.response)]() mutable {
      std::move(respond)(std::move(response));
    });
  } else {
    std::move(respond)(std::move(result.response));
  }
}

http::Response Sandbox::Admin(FakeKind fake, const http::Request& request) {
  if (!IsLoopbackRemote(request.remote_address)) {
    return AdminError(403, "admin routes answer loopback clients only");
  }
  const std::vector<QueryParam> params = ParseQuery(request.query);
  std::string path = request.path;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::string& method = request.method;

  if (path == "/__admin/requests" && method == "GET") {
    const std::string which = FindParam(params, "fake").value_or(std::string(FakeName(fake)));
    std::optional<FakeKind> selected;
    if (which == "servicenow") selected = FakeKind::kServiceNow;
    if (which == "onspring") selected = FakeKind::kOnspring;
    if (which != "servicenow" && which != "onspring" && which != "all") {
      return AdminError(400, "fake must be servicenow, onspring or all");
    }
    return AdminJson(200, request_log_.ToJson(selected));
  }
  if (path == "/__admin/reset" && method == "POST") {
    if (absl::Status status = Reset(); !status.ok())
      return AdminError(500, ToStd(status.message()));
    return AdminJson(200, R"({"status":"reset"})");
  }
  if (path == "/__admin/faults") {
    if (method == "POST") {
      absl::StatusOr<rapidjson::Document> body =
          ParseJson(request.body.empty() ? "{}" : request.body);
      if (!body.ok()) return AdminError(400, ToStd(body.status().message()));
      absl::StatusOr<FaultConfig> config = ParseFaultConfig(*body);
      if (!config.ok()) return AdminError(400, ToStd(config.status().message()));
      const std::string target =
          GetString(*body, "target", true).value_or(std::string(FakeName(fake)));
      if (target != "servicenow" && target != "onspring" && target != "both") {
        return AdminError(400, "faults: \"target\" must be servicenow, onspring or both");
      }
      if (target != "onspring") SetFaults(FakeKind::kServiceNow, *config);
      if (target != "servicenow") SetFaults(FakeKind::kOnspring, *config);
    } else if (method != "GET") {
      return AdminError(405, "use GET or POST");
    }
    return AdminJson(
        200,
        absl::StrCat("{\"servicenow\":", FaultConfigToJson(GetFaults(FakeKind::kServiceNow)),
                     ",\"onspring\":", FaultConfigToJson(GetFaults(FakeKind::kOnspring)), "}"));
  }
  if (path == "/__admin/outcomes") {
    if (method == "GET") return AdminJson(200, outcomes_->ToJson());
    if (method == "POST") {
      absl::StatusOr<int64_t> id = AddOutcome(request.body);
      if (!id.ok()) return AdminError(400, ToStd(id.status().message()));
      return AdminJson(201, absl::StrCat("{\"id\":", *id, "}"));
    }
    if (method == "DELETE") {
      outcomes_->Reset({});
      return AdminJson(200, R"({"status":"cleared"})");
    }
    return AdminError(405, "use GET, POST or DELETE");
  }
  if (path == "/__admin/oauth/expire" && method == "POST") {
    servicenow_->ExpireAccessTokens();
    return AdminJson(200, R"({"status":"expired"})");
  }
  if (path == "/__admin/info" && method == "GET") {
    JsonWriter out;
    out.StartObject()
        .Member("servicenow_url", servicenow_url_)
        .Member("onspring_url", onspring_url_)
        .Member("outcome_url", options_.outcome_url)
        .EndObject();
    return AdminJson(200, out.str());
  }
  return AdminError(404, absl::StrCat("no admin route ", method, " ", path));
}

}  // namespace onsync::sandbox
