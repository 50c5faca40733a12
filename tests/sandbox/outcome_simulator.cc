#include "tests/sandbox/outcome_simulator.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/json.h"
#include "common/string_view.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/request_log.h"
#include "tests/sandbox/url.h"

namespace onsync::sandbox {
namespace {

constexpr size_t kMaxLoggedBody = 4096;
constexpr size_t kMaxRuns = 1000;

absl::StatusOr<int64_t> ResolveField(const rapidjson::Value& json, const OsStore& store,
                                     const OsApp& app, std::string_view where) {
  if (auto id = GetInt(json, "fieldId", true)) {
    const OsField* field = store.FindField(*id);
    if (field == nullptr || field->app_id != app.id) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(where), ": field ", *id, " is not in app ", app.id));
    }
    return *id;
  }
  if (auto name = GetString(json, "field", true)) {
    const OsField* field = store.FindFieldByName(app, *name);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(ToAbsl(where), ": app ", app.id, " has no field named \"", *name, "\""));
    }
    return field->id;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(where), ": needs \"fieldId\" or \"field\""));
}

std::string Substitute(std::string_view text, const OutcomeSubstitutions& s) {
  return absl::StrReplaceAll(ToAbsl(text), {{"{{outcome_url}}", s.outcome_url},
                                            {"{{servicenow_url}}", s.servicenow_url},
                                            {"{{onspring_url}}", s.onspring_url}});
}

std::string Truncate(std::string_view text) {
  return std::string(text.substr(0, std::min(text.size(), kMaxLoggedBody)));
}

}  // namespace

absl::StatusOr<OutcomeConfig> ParseOutcomeConfig(const rapidjson::Value& json,
                                                 const OsStore& store) {
  if (!json.IsObject()) return absl::InvalidArgumentError("outcome: expected a JSON object");
  OutcomeConfig config;
  config.name = GetString(json, "name", true).value_or("REST API outcome");
  const std::optional<int64_t> app_id = GetInt(json, "appId", true);
  const OsApp* app = app_id.has_value() ? store.FindApp(*app_id) : nullptr;
  if (app == nullptr) return absl::InvalidArgumentError("outcome: \"appId\" must name an app");
  config.app_id = app->id;
  if (auto status = GetString(json, "status", true)) {
    config.active = absl::EqualsIgnoreCase(*status, "Active");
  }
  const rapidjson::Value* trigger = FindMember(json, "trigger", true);
  if (trigger == nullptr || !trigger->IsObject()) {
    return absl::InvalidArgumentError("outcome: \"trigger\" must be an object");
  }
  absl::StatusOr<int64_t> trigger_field = ResolveField(*trigger, store, *app, "outcome.trigger");
  if (!trigger_field.ok()) return trigger_field.status();
  config.trigger_field_id = *trigger_field;
  const std::optional<std::string> changed_to = GetString(*trigger, "changedTo", true);
  if (!changed_to.has_value()) {
    return absl::InvalidArgumentError("outcome.trigger: \"changedTo\" must be a string");
  }
  config.trigger_value = *changed_to;
  config.method = absl::AsciiStrToUpper(GetString(json, "method", true).value_or("POST"));
  if (config.method != "GET" && config.method != "POST" && config.method != "PUT" &&
      config.method != "PATCH" && config.method != "DELETE") {
    return absl::InvalidArgumentError(
        "outcome: \"method\" must be GET, POST, PUT, PATCH or DELETE");
  }
  config.url = GetString(json, "url", true).value_or("");
  if (config.url.empty()) return absl::InvalidArgumentError("outcome: \"url\" is required");
  if (const rapidjson::Value* headers = FindMember(json, "headers", true); headers != nullptr) {
    if (!headers->IsArray())
      return absl::InvalidArgumentError("outcome: \"headers\" must be an array");
    for (const rapidjson::Value& header : headers->GetArray()) {
      const std::optional<std::string> name = GetString(header, "name", true);
      if (!name.has_value() || name->empty()) {
        return absl::InvalidArgumentError("outcome.headers[]: \"name\" is required");
      }
      config.headers.emplace_back(*name, GetString(header, "value", true).value_or(""));
    }
  }
  if (const rapidjson::Value* auth = FindMember(json, "auth", true); auth != nullptr) {
    config.auth_type = absl::AsciiStrToLower(GetString(*auth, "type", true).value_or("none"));
    if (config.auth_type == "basic") {
      config.auth_username = GetString(*auth, "username", true).value_or("");
      config.auth_password = GetString(*auth, "password", true).value_or("");
    } else if (config.auth_type == "api_key") {
      config.auth_header = GetString(*auth, "header", true).value_or("x-api-key");
      config.auth_value = GetString(*auth, "value", true).value_or("");
    } else if (config.auth_type != "none") {
      return absl::InvalidArgumentError("outcome.auth: \"type\" must be none, api_key or basic");
    }
  }
  config.body = GetString(json, "body", true).value_or("");
  config.json_escape_body = GetString(json, "bodyEscaping", true).value_or("json") != "none";
  config.use_list_value_guid = GetBool(json, "useListValueGuid", true).value_or(false);
  config.retries = static_cast<int>(GetInt(json, "retries", true).value_or(0));
  if (config.retries < 0 || config.retries > 10) {
    return absl::InvalidArgumentError("outcome: \"retries\" must be in [0, 10]");
  }
  if (auto ms = GetInt(json, "retryDelayMs", true)) config.retry_delay = absl::Milliseconds(*ms);
  if (auto ms = GetInt(json, "timeoutMs", true)) config.timeout = absl::Milliseconds(*ms);
  if (const rapidjson::Value* mapping = FindMember(json, "dataMapping", true); mapping != nullptr) {
    if (!mapping->IsArray()) {
      return absl::InvalidArgumentError("outcome: \"dataMapping\" must be an array");
    }
    for (const rapidjson::Value& row : mapping->GetArray()) {
      const std::optional<std::string> source = GetString(row, "source", true);
      if (!source.has_value() || source->empty()) {
        return absl::InvalidArgumentError("outcome.dataMapping[]: \"source\" is required");
      }
      absl::StatusOr<int64_t> field = ResolveField(row, store, *app, "outcome.dataMapping[]");
      if (!field.ok()) return field.status();
      config.mapping.emplace_back(*source, *field);
    }
  }
  return config;
}

OutcomeSimulator::OutcomeSimulator(clients::HttpTransport* transport, clients::Scheduler* scheduler,
                                   OnspringFake* fake)
    : transport_(transport), scheduler_(scheduler), fake_(fake) {}

void OutcomeSimulator::SetSubstitutions(OutcomeSubstitutions substitutions) {
  absl::MutexLock lock(&mu_);
  substitutions_ = std::move(substitutions);
}

void OutcomeSimulator::Reset(std::vector<OutcomeConfig> outcomes) {
  absl::MutexLock lock(&mu_);
  outcomes_.clear();
  runs_.clear();
  for (OutcomeConfig& outcome : outcomes) {
    outcome.id = next_outcome_id_++;
    outcomes_.push_back(std::move(outcome));
  }
}

int64_t OutcomeSimulator::Add(OutcomeConfig outcome) {
  absl::MutexLock lock(&mu_);
  outcome.id = next_outcome_id_++;
  outcomes_.push_back(std::move(outcome));
  return outcomes_.back().id;
}

absl::AnyInvocable<void() &&> OutcomeSimulator::OnRecordSaved(const OsStore& store,
                                                              const OsApp& app,
                                                              const OsRecord* before,
                                                              const OsRecord& after) {
  std::vector<std::shared_ptr<Pending>> to_send;
  absl::MutexLock lock(&mu_);
  for (const OutcomeConfig& outcome : outcomes_) {
    if (outcome.app_id != app.id || !outcome.active) continue;
    const OsField* field = store.FindField(outcome.trigger_field_id);
    if (field == nullptr) continue;
    auto text_of = [&](const OsRecord* record) -> std::string {
      if (record == nullptr) return "";
      const auto it = record->values.find(field->id);
      if (it == record->values.end()) return "";
      return store.RenderText(*field, it->second, /*list_guid=*/false,
                              /*references_as_title=*/true);
    };
    const std::string old_text = text_of(before);
    const std::string new_text = text_of(&after);
    if (new_text != outcome.trigger_value || old_text == new_text) continue;

    // The rule is met: render the request from the record as saved.
    OutcomeRun run;
    run.id = next_run_id_++;
    run.outcome_id = outcome.id;
    run.outcome_name = outcome.name;
    run.app_id = app.id;
    run.record_id = after.id;
    run.started = absl::Now();
    run.method = outcome.method;
    const auto identity = [](std::string_view s) { return std::string(s); };
    run.url = store.RenderTemplate(app, after, Substitute(outcome.url, substitutions_),
                                   outcome.use_list_value_guid,
                                   [](std::string_view s) { return PercentEncode(s); });
    clients::HttpRequest request;
    request.method = outcome.method;
    request.url = run.url;
    bool has_content_type = false;
    for (const auto& [name, value] : outcome.headers) {
      std::string rendered = store.RenderTemplate(app, after, Substitute(value, substitutions_),
                                                  outcome.use_list_value_guid, identity);
      has_content_type = has_content_type || absl::EqualsIgnoreCase(name, "content-type");
      run.headers.emplace_back(name, MaskHeader(name, rendered));
      request.headers.emplace_back(name, std::move(rendered));
    }
    if (outcome.auth_type == "basic") {
      const std::string credentials =
          absl::StrCat(Substitute(outcome.auth_username, substitutions_), ":",
                       Substitute(outcome.auth_password, substitutions_));
      request.headers.emplace_back("Authorization",
                                   absl::StrCat("Basic ", Base64Encode(credentials)));
      run.headers.emplace_back("Authorization", "Basic [REDACTED]");
    } else if (outcome.auth_type == "api_key") {
      request.headers.emplace_back(outcome.auth_header,
                                   Substitute(outcome.auth_value, substitutions_));
      run.headers.emplace_back(outcome.auth_header, "[REDACTED]");
    }
    if (!outcome.body.empty()) {
      request.body = store.RenderTemplate(
          app, after, Substitute(outcome.body, substitutions_), outcome.use_list_value_guid,
          outcome.json_escape_body ? std::function<std::string(std::string_view)>(
                                         [](std::string_view s) { return JsonEscape(s); })
                                   : std::function<std::string(std::string_view)>(identity));
      if (!has_content_type) {
        request.headers.emplace_back("Content-Type", "application/json");
        run.headers.emplace_back("Content-Type", "application/json");
      }
      run.body = request.body;
    }
    request.idempotent = outcome.method != "POST" && outcome.method != "PATCH";
    if (absl::StrContains(outcome.url, "{{outcome_url}}") && substitutions_.outcome_url.empty()) {
      run.state = "skipped";
      run.errors.push_back("no outcome URL configured (--outcome-url): the outcome is disabled");
      run.finished = run.started;
    } else if (stopping_) {
      run.state = "skipped";
      run.errors.push_back("the sandbox is shutting down");
      run.finished = run.started;
    } else {
      run.state = "running";
      auto pending = std::make_shared<Pending>();
      pending->config = outcome;
      pending->run_id = run.id;
      pending->record_id = after.id;
      pending->request = std::move(request);
      to_send.push_back(std::move(pending));
      ++in_flight_;
    }
    runs_.push_back(std::move(run));
    while (runs_.size() > kMaxRuns && runs_.front().state != "running") runs_.pop_front();
  }
  if (to_send.empty()) return nullptr;
  return [this, to_send = std::move(to_send)]() mutable {
    for (auto& pending : to_send) Send(std::move(pending));
  };
}

void OutcomeSimulator::Send(std::shared_ptr<Pending> pending) {
  {
    absl::MutexLock lock(&mu_);
    if (OutcomeRun* run = FindRun(pending->run_id)) ++run->attempts;
  }
  if (transport_ == nullptr) {
    Finish(pending->run_id, "failed", {}, {"no HTTP transport: the sandbox cannot send outcomes"});
    return;
  }
  clients::HttpRequest request = pending->request;
  request.deadline = absl::Now() + pending->config.timeout;
  transport_->Send(std::move(request),
                   [this, pending](absl::StatusOr<clients::HttpResponse> response) mutable {
                     OnResponse(std::move(pending), std::move(response));
                   });
}

void OutcomeSimulator::OnResponse(std::shared_ptr<Pending> pending,
                                  absl::StatusOr<clients::HttpResponse> response) {
  std::string error;
  int attempts = 0;
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    OutcomeRun* run = FindRun(pending->run_id);
    if (run != nullptr) {
      attempts = run->attempts;
      if (response.ok()) {
        run->status = response->status;
        run->response_body = Truncate(response->body);
      }
    }
    stopping = stopping_;
  }
  if (!response.ok()) {
    error = absl::StrCat("attempt ", attempts, ": ", response.status().ToString());
  } else if (response->status < 200 || response->status > 299) {
    error = absl::StrCat("attempt ", attempts, ": HTTP ", response->status);
  }
  if (!error.empty()) {
    if (attempts <= pending->config.retries && !stopping) {
      {
        absl::MutexLock lock(&mu_);
        if (OutcomeRun* run = FindRun(pending->run_id)) run->errors.push_back(error);
      }
      scheduler_->RunAfter(pending->config.retry_delay, [this, pending]() mutable {
        bool stop = false;
        {
          absl::MutexLock lock(&mu_);
          stop = stopping_;
        }
        if (stop) {
          Finish(pending->run_id, "failed", {}, {"retry cancelled: the sandbox is shutting down"});
        } else {
          Send(std::move(pending));
        }
      });
      return;
    }
    Finish(pending->run_id, "failed", {}, {error});
    return;
  }
  // 2xx: apply the Data Mapping.
  absl::StatusOr<rapidjson::Document> body = ParseJson(response->body);
  if (!body.ok() || !body->IsObject()) {
    Finish(pending->run_id, pending->config.mapping.empty() ? "succeeded" : "failed", {},
           pending->config.mapping.empty()
               ? std::vector<std::string>{}
               : std::vector<std::string>{"the response is not a JSON object: nothing mapped"});
    return;
  }
  absl::StatusOr<MappingResult> mapped = fake_->ApplyMapping(
      pending->config.app_id, pending->record_id, *body, pending->config.mapping);
  if (!mapped.ok()) {
    Finish(pending->run_id, "failed", {}, {std::string(mapped.status().message())});
    return;
  }
  Finish(pending->run_id, "succeeded", std::move(mapped->mapped), std::move(mapped->errors));
}

void OutcomeSimulator::Finish(int64_t run_id, const std::string& state,
                              std::vector<MappedField> mapped, std::vector<std::string> errors) {
  absl::MutexLock lock(&mu_);
  if (OutcomeRun* run = FindRun(run_id)) {
    run->state = state;
    run->mapped = std::move(mapped);
    for (std::string& error : errors) run->errors.push_back(std::move(error));
    run->finished = absl::Now();
  }
  --in_flight_;
}

OutcomeRun* OutcomeSimulator::FindRun(int64_t run_id) {
  for (OutcomeRun& run : runs_) {
    if (run.id == run_id) return &run;
  }
  return nullptr;
}

std::vector<OutcomeRun> OutcomeSimulator::Runs() const {
  absl::MutexLock lock(&mu_);
  return {runs_.begin(), runs_.end()};
}

std::vector<OutcomeConfig> OutcomeSimulator::Outcomes() const {
  absl::MutexLock lock(&mu_);
  return outcomes_;
}

std::string OutcomeSimulator::ToJson() const {
  absl::MutexLock lock(&mu_);
  JsonWriter out;
  out.StartObject().Key("outcomes").StartArray();
  for (const OutcomeConfig& outcome : outcomes_) {
    out.StartObject()
        .Member("id", outcome.id)
        .Member("name", outcome.name)
        .Member("appId", outcome.app_id)
        .Member("status", outcome.active ? "Active" : "Inactive");
    out.Key("trigger")
        .StartObject()
        .Member("fieldId", outcome.trigger_field_id)
        .Member("changedTo", outcome.trigger_value)
        .EndObject();
    out.Member("method", outcome.method).Member("url", outcome.url);
    out.Key("headers").StartArray();
    for (const auto& [name, value] : outcome.headers) {
      out.StartObject().Member("name", name).Member("value", MaskHeader(name, value)).EndObject();
    }
    out.EndArray();
    out.Key("auth").StartObject().Member("type", outcome.auth_type);
    if (outcome.auth_type == "basic") out.Member("username", outcome.auth_username);
    if (outcome.auth_type == "api_key") out.Member("header", outcome.auth_header);
    out.EndObject();
    out.Member("body", outcome.body)
        .Member("bodyEscaping", outcome.json_escape_body ? "json" : "none")
        .Member("useListValueGuid", outcome.use_list_value_guid)
        .Member("retries", outcome.retries)
        .Member("retryDelayMs", absl::ToInt64Milliseconds(outcome.retry_delay))
        .Member("timeoutMs", absl::ToInt64Milliseconds(outcome.timeout));
    out.Key("dataMapping").StartArray();
    for (const auto& [source, field_id] : outcome.mapping) {
      out.StartObject().Member("source", source).Member("fieldId", field_id).EndObject();
    }
    out.EndArray().EndObject();
  }
  out.EndArray().Key("runs").StartArray();
  for (const OutcomeRun& run : runs_) {
    out.StartObject()
        .Member("id", run.id)
        .Member("outcomeId", run.outcome_id)
        .Member("outcome", run.outcome_name)
        .Member("appId", run.app_id)
        .Member("recordId", run.record_id)
        .Member("state", run.state)
        .Member("started", FormatLogTime(run.started));
    if (run.state != "running") out.Member("finished", FormatLogTime(run.finished));
    out.Key("request").StartObject().Member("method", run.method).Member("url", run.url);
    out.Key("headers").StartObject();
    for (const auto& [name, value] : run.headers) out.Member(name, value);
    out.EndObject().Member("body", run.body).EndObject();
    out.Member("attempts", run.attempts);
    out.Key("response")
        .StartObject()
        .Member("status", run.status)
        .Member("body", run.response_body);
    out.EndObject();
    out.Key("mapped").StartArray();
    for (const MappedField& field : run.mapped) {
      out.StartObject()
          .Member("source", field.source)
          .Member("fieldId", field.field_id)
          .Member("value", field.value)
          .EndObject();
    }
    out.EndArray().Key("errors").StartArray();
    for (const std::string& error : run.errors) out.String(error);
    out.EndArray().EndObject();
  }
  out.EndArray().EndObject();
  return out.str();
}

bool OutcomeSimulator::WaitForFinishedRuns(size_t count, absl::Duration timeout) const {
  struct Args {
    const OutcomeSimulator* self;
    size_t count;
  } args{this, count};
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    size_t finished = 0;
                                    for (const OutcomeRun& run : a->self->runs_) {
                                      finished += run.state != "running" ? 1 : 0;
                                    }
                                    return finished >= a->count;
                                  },
                                  &args),
                              timeout);
}

void OutcomeSimulator::BeginShutdown() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
}

bool OutcomeSimulator::WaitIdle(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* in_flight) { return *in_flight == 0; }, &in_flight_),
                              timeout);
}

}  // namespace onsync::sandbox
