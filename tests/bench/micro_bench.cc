// Google Benchmark micro-benchmarks of onsync's hot code that needs no network: query building,
// templates, trigger extraction, and one whole sync through the engine and both clients with the
// upstreams answered in memory (FakeTransport), warm and cold, so that the CPU of a sync without
// its waiting shows.
//
// Run in a release build: build-release/tests/bin/micro_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

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

// One sync of the example profile (respond mode) per iteration, upstreams answered in memory.
void RunSyncs(benchmark::State& state, absl::Duration cache_ttl) {
  clients::testing::FakeTransport transport;
  transport.SetHandler(
      [](const clients::HttpRequest& request) -> absl::StatusOr<clients::HttpResponse> {
        if (request.url.find("/api/now/table/") != std::string::npos) {
          return clients::testing::MakeResponse(200, kServiceNowRow);
        }
        return clients::testing::MakeResponse(
            200, request.body.find("\"appId\":100") != std::string::npos ? kUsers : kRegulations);
      });
  clients::servicenow::BasicAuthenticator auth("admin", "sandbox");
  auto table = clients::servicenow::TableClient::Create(transport, transport, auth,
                                                        "https://bench.service-now.com");
  auto onspring = clients::onspring::OnspringClient::Create(
      transport, transport, {.base_url = "https://api.onspring.test", .api_key = "bench-key"});
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

void BM_SyncWarm(benchmark::State& state) { RunSyncs(state, absl::Minutes(5)); }
BENCHMARK(BM_SyncWarm)->MeasureProcessCPUTime()->UseRealTime();

void BM_SyncCold(benchmark::State& state) { RunSyncs(state, absl::ZeroDuration()); }
BENCHMARK(BM_SyncCold)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace
}  // namespace onsync

BENCHMARK_MAIN();
