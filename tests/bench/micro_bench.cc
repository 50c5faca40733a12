// Google Benchmark micro-benchmarks of onsync's hot code that needs no network: query building,
// templates, trigger extraction, parsing of the upstream payloads (a ServiceNow Table API row and
// an Onspring query page, through the clients with an inline in-memory transport), the gateway's
// profile mapping (the PoC's `/sync` body -> an inline profile and a SyncRecordRequest; an outcome
// body; the flat response bodies), and one whole sync through the engine and both clients with
// the upstreams answered in memory (FakeTransport), warm and cold, so that the CPU of a sync
// without its waiting shows.
//
// Run in a release build: build-release/tests/bin/micro_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/onspring/filter.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/encoded_query.h"
#include "clients/servicenow/table_client.h"
#include "common/http_server.h"
#include "gateway/routes/outcome_route.h"
#include "gateway/routes/sync_call.h"
#include "gateway/routes/sync_route.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "server/engine/sync_engine.h"
#include "server/engine/template.h"
#include "server/engine/trigger.h"
#include "tests/clients/fake_transport.h"
#include "tests/support/process.h"

namespace onsync {
namespace {

void BM_EncodedQueryLookup(benchmark::State& state) {
  for (auto _ : state) {
    clients::servicenow::EncodedQuery query;
    query.Equals("name", "O'Brien ^ Ledger").OrderBy("sys_id");
    benchmark::DoNotOptimize(query.Build());
  }
}
BENCHMARK(BM_EncodedQueryLookup);

void BM_OnspringAnyOfTenNames(benchmark::State& state) {
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back(absl::StrCat("Dana O'Brien ", i));
  for (auto _ : state) benchmark::DoNotOptimize(clients::onspring::AnyOf(1005, names));
}
BENCHMARK(BM_OnspringAnyOfTenNames);

void BM_TemplateRender(benchmark::State& state) {
  const auto tmpl = engine::Template::Parse("{value|first_space_to_dot|lower}@example.com");
  for (auto _ : state) benchmark::DoNotOptimize(tmpl->Render("Mary Ann Smith"));
}
BENCHMARK(BM_TemplateRender);

void BM_ExtractTrigger(benchmark::State& state) {
  v1::TriggerExtraction paths;
  paths.set_record_id("recordId");
  paths.set_key("name");
  google::protobuf::Struct body;
  (*body.mutable_fields())["recordId"].set_number_value(1001);
  (*body.mutable_fields())["name"].set_string_value("Payroll");
  (*body.mutable_fields())["status"].set_string_value("Active");
  for (auto _ : state) benchmark::DoNotOptimize(engine::ExtractTrigger(paths, body));
}
BENCHMARK(BM_ExtractTrigger);

// The PoC's Payroll row as ServiceNow returns it (dot-walked fields), and Onspring's answers.
constexpr char kServiceNowRow[] =
    R"({"result":[{"name":"Payroll","number":"APM0001001",)"
    R"("short_description":"Processes employee pay and deductions","install_type":"On Premise",)"
    R"("u_cloud_model":"Not Applicable","it_application_owner.name":"Fred Jones",)"
    R"("u_primary_it_owner.name":"Beth Anglin","u_l3_name.name":"Abel Tuter",)"
    R"("u_regulatory_legal_and_compliance":"GDPR, SOX,HIPAA"}]})";
constexpr char kUsers[] =
    R"({"pageNumber":1,"pageSize":3,"totalPages":1,"totalRecords":3,"items":[)"
    R"({"appId":100,"recordId":1,"fieldData":[{"type":"String","fieldId":1005,"value":"Fred Jones"}]},)"
    R"({"appId":100,"recordId":2,"fieldData":[{"type":"String","fieldId":1005,"value":"Beth Anglin"}]},)"
    R"({"appId":100,"recordId":4,"fieldData":[{"type":"String","fieldId":1005,"value":"Abel Tuter"}]}]})";
constexpr char kRegulations[] =
    R"({"pageNumber":1,"pageSize":3,"totalPages":1,"totalRecords":3,"items":[)"
    R"({"appId":200,"recordId":1,"fieldData":[{"type":"String","fieldId":2001,"value":"GDPR"}]},)"
    R"({"appId":200,"recordId":2,"fieldData":[{"type":"String","fieldId":2001,"value":"SOX"}]},)"
    R"({"appId":200,"recordId":3,"fieldData":[{"type":"String","fieldId":2001,"value":"HIPAA"}]}]})";

// The upstreams' answers for the example profile: the ServiceNow row, then Onspring's users or
// regulation types depending on the queried app.
std::string UpstreamAnswer(const clients::HttpRequest& request) {
  if (request.url.find("/api/now/table/") != std::string::npos) return kServiceNowRow;
  return request.body.find("\"appId\":100") != std::string::npos ? kUsers : kRegulations;
}

// A transport that answers every request at once, on the caller's thread (the real transports
// never call back inline; the clients and the engine tolerate it, and it keeps thread hand-offs
// out of the figures). Also a Scheduler that runs tasks at once.
class InlineTransport final : public clients::HttpTransport, public clients::Scheduler {
 public:
  explicit InlineTransport(std::function<std::string(const clients::HttpRequest&)> answer)
      : answer_(std::move(answer)) {}
  void Send(clients::HttpRequest request, clients::HttpCallback done) override {
    std::move(done)(clients::testing::MakeResponse(200, answer_(request)));
  }
  void RunAfter(absl::Duration, absl::AnyInvocable<void() &&> task) override { std::move(task)(); }

 private:
  const std::function<std::string(const clients::HttpRequest&)> answer_;
};

// ServiceNow: the URL of a lookup by name, the request, and the parse of the one-row answer into
// a Row (what the engine's first round trip costs in CPU, the transport excluded).
void BM_ParseServiceNowRow(benchmark::State& state) {
  InlineTransport transport([](const clients::HttpRequest&) { return kServiceNowRow; });
  clients::servicenow::BasicAuthenticator auth("admin", "sandbox");
  auto table = clients::servicenow::TableClient::Create(transport, transport, auth,
                                                        "https://bench.service-now.com");
  if (!table.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  const std::vector<std::string> fields = {"name",
                                           "number",
                                           "short_description",
                                           "install_type",
                                           "u_cloud_model",
                                           "it_application_owner.name",
                                           "u_primary_it_owner.name",
                                           "u_l3_name.name",
                                           "u_regulatory_legal_and_compliance"};
  for (auto _ : state) {
    clients::servicenow::LookupRequest request;
    request.table = "cmdb_ci_business_app";
    request.key_field = "name";
    request.value = "Payroll";
    request.fields = fields;
    bool found = false;
    (*table)->LookupByKey(std::move(request),
                          [&found](absl::StatusOr<std::optional<clients::servicenow::Row>> row) {
                            found = row.ok() && row->has_value();
                          });
    if (!found) {
      state.SkipWithError("lookup failed");
      return;
    }
  }
}
BENCHMARK(BM_ParseServiceNowRow);

// Onspring: a query of the users app for three full names, and the parse of its page of three
// records.
void BM_ParseOnspringQueryPage(benchmark::State& state) {
  InlineTransport transport([](const clients::HttpRequest&) { return kUsers; });
  auto onspring = clients::onspring::OnspringClient::Create(
      transport, transport, {.base_url = "https://api.onspring.test", .api_key = "bench-key"});
  if (!onspring.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  const absl::StatusOr<std::string> filter =
      clients::onspring::AnyOf(1005, {"Fred Jones", "Beth Anglin", "Abel Tuter"});
  for (auto _ : state) {
    size_t records = 0;
    (*onspring)->QueryRecords(
        100, *filter, {1005}, clients::CallOptions(),
        [&records](absl::StatusOr<std::vector<clients::onspring::Record>> page) {
          records = page.ok() ? page->size() : 0;
        });
    if (records != 3) {
      state.SkipWithError("query failed");
      return;
    }
  }
}
BENCHMARK(BM_ParseOnspringQueryPage);

// The PoC's `/sync` request body for the sandbox's seed.
constexpr char kPocBody[] =
    R"({"serviceNowBaseUrl":"http://127.0.0.1:8081","appName":"Payroll",)"
    R"("onspringUserAppId":100,"onspringUserFirstNameFieldId":1001,)"
    R"("onspringUserLastNameFieldId":1002,"onspringUserUsernameFieldId":1003,)"
    R"("onspringUserEmailFieldId":1004,"onspringUserStatusFieldId":1006,)"
    R"("onspringUserStatusValue":"6f0caae9-2f2d-5073-8d41-592671697963",)"
    R"("onspringUserTierFieldId":1007,"onspringUserTierValue":"9e34f1a4-7bbb-5b84-af5b-0b954f359412",)"
    R"("onspringUserFullNameFieldId":1005,"onspringRegTypeAppId":200,"onspringRegTypeIdFieldId":2001})";

http::Request JsonPost(std::string body) {
  http::Request request;
  request.method = "POST";
  request.headers = {{"content-type", "application/json"}};
  request.body = std::move(body);
  return request;
}

// The gateway's profile mapping for `/sync`: the body parsed into a Struct, validated and
// translated into an inline profile (PocSyncRequest), and the request serialized for gRPC.
void BM_GatewayPocRequest(benchmark::State& state) {
  const http::Request request = JsonPost(kPocBody);
  for (auto _ : state) {
    google::protobuf::Struct body;
    if (gateway::ReadJsonObjectBody(request, body).has_value()) {
      state.SkipWithError("body rejected");
      return;
    }
    auto sync = gateway::PocSyncRequest(body, "Basic YWRtaW46c2FuZGJveA==", "sandbox-key");
    if (!sync.ok()) {
      state.SkipWithError(std::string(sync.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(sync->SerializeAsString());
  }
}
BENCHMARK(BM_GatewayPocRequest);

// The same for an outcome route body: parse into a Struct (sent as the trigger's body).
void BM_GatewayOutcomeRequest(benchmark::State& state) {
  const http::Request request = JsonPost(R"({"recordId":1001,"name":"Payroll"})");
  for (auto _ : state) {
    google::protobuf::Struct body;
    if (gateway::ReadJsonObjectBody(request, body).has_value()) {
      state.SkipWithError("body rejected");
      return;
    }
    benchmark::DoNotOptimize(body);
  }
}
BENCHMARK(BM_GatewayOutcomeRequest);

// A RESPOND result's values, as the server returns them for Payroll.
v1::SyncResult PayrollResult() {
  v1::SyncResult result;
  auto& values = *result.mutable_values()->mutable_fields();
  values["appName"].set_string_value("Payroll");
  values["shortName"].set_string_value("APM0001001");
  values["description"].set_string_value("Processes employee pay and deductions");
  values["installType"].set_string_value("On Premise");
  values["cloudModel"].set_string_value("Not Applicable");
  values["appOwner"].set_number_value(1);
  values["itOwner"].set_number_value(2);
  values["l3"].set_number_value(4);
  values["l2"].set_number_value(4);
  values["regulatory"].set_string_value("1|2|3");
  return result;
}

// The gateway's 200 bodies: the PoC's flat object (`/sync`) and the outcome route's.
void BM_GatewayPocResponse(benchmark::State& state) {
  const v1::SyncResult result = PayrollResult();
  for (auto _ : state) benchmark::DoNotOptimize(gateway::PocResponseBody(result.values()));
}
BENCHMARK(BM_GatewayPocResponse);

void BM_GatewayOutcomeResponse(benchmark::State& state) {
  const v1::SyncResult result = PayrollResult();
  for (auto _ : state) benchmark::DoNotOptimize(gateway::OutcomeResponseBody(result));
}
BENCHMARK(BM_GatewayOutcomeResponse);

// One sync of the example profile (respond mode) per iteration, upstreams answered in memory.
// With `inline_upstreams`, the answers come from InlineTransport on the calling thread; otherwise
// from FakeTransport's worker thread, as a real transport's would (a thread hand-off per call).
void RunSyncs(benchmark::State& state, absl::Duration cache_ttl, bool inline_upstreams) {
  clients::testing::FakeTransport fake;
  fake.SetHandler([](const clients::HttpRequest& request) -> absl::StatusOr<clients::HttpResponse> {
    return clients::testing::MakeResponse(200, UpstreamAnswer(request));
  });
  InlineTransport inline_transport(UpstreamAnswer);
  clients::HttpTransport& transport =
      inline_upstreams ? static_cast<clients::HttpTransport&>(inline_transport) : fake;
  clients::Scheduler& scheduler =
      inline_upstreams ? static_cast<clients::Scheduler&>(inline_transport) : fake;
  clients::servicenow::BasicAuthenticator auth("admin", "sandbox");
  auto table = clients::servicenow::TableClient::Create(transport, scheduler, auth,
                                                        "https://bench.service-now.com");
  auto onspring = clients::onspring::OnspringClient::Create(
      transport, scheduler, {.base_url = "https://api.onspring.test", .api_key = "bench-key"});
  auto text = config::ReadFileToString(
      onsync::testing::SourcePath("deploy/examples/business-app.yaml"), 1 << 20);
  auto config = config::ParseConfigYaml(*text, config::SystemSecretSource());
  if (!table.ok() || !onspring.ok() || !config.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  engine::Upstreams upstreams;
  upstreams.servicenow = *std::move(table);
  upstreams.onspring = *std::move(onspring);
  upstreams.onspring_scope = "bench";
  auto profile = std::make_shared<const v1::Profile>(config->profiles().at("business_app"));
  engine::EngineOptions options;
  options.cache.ttl = cache_ttl;
  engine::SyncEngine engine(clients::RealClock(), options);
  v1::Trigger trigger;
  trigger.set_key("Payroll");
  for (auto _ : state) {
    std::promise<absl::StatusOr<v1::SyncResult>> done;
    engine.Run(
        profile, upstreams, trigger, v1::SYNC_MODE_RESPOND, absl::Now() + absl::Seconds(10),
        [&done](absl::StatusOr<v1::SyncResult> result) { done.set_value(std::move(result)); });
    absl::StatusOr<v1::SyncResult> result = done.get_future().get();
    if (!result.ok()) {
      state.SkipWithError(std::string(result.status().message()).c_str());
      return;
    }
  }
}

void BM_SyncWarm(benchmark::State& state) { RunSyncs(state, absl::Minutes(5), false); }
BENCHMARK(BM_SyncWarm)->MeasureProcessCPUTime()->UseRealTime();

void BM_SyncCold(benchmark::State& state) { RunSyncs(state, absl::ZeroDuration(), false); }
BENCHMARK(BM_SyncCold)->MeasureProcessCPUTime()->UseRealTime();

// The same on one thread: the engine's own CPU (parsing, resolution, mapping to the values).
void BM_SyncWarmInline(benchmark::State& state) { RunSyncs(state, absl::Minutes(5), true); }
BENCHMARK(BM_SyncWarmInline);

void BM_SyncColdInline(benchmark::State& state) { RunSyncs(state, absl::ZeroDuration(), true); }
BENCHMARK(BM_SyncColdInline);

}  // namespace
}  // namespace onsync

BENCHMARK_MAIN();
