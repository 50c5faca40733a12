// The batch runner against the sandbox (in process, on loopback) with the real clients, transport
// and engine, running the example profile (deploy/examples/business-app.yaml) over generated
// cmdb_ci_business_app rows added to the default seed: keyset paging, rows sharing a second,
// pages cut short by ACLs, checkpoints and resume, the watermark, cancellation and outages.
#include "server/engine/batch_sync.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/http/curl_transport.h"
#include "clients/http/retrying_transport.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/table_client.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "tests/sandbox/sandbox.h"
#include "tests/server/engine/sandbox_engine_test_base.h"
#include "tests/support/http_test_client.h"
#include "tests/support/process.h"

namespace onsync::engine {
namespace {

using clients::onspring::FieldValue;
using clients::onspring::OnspringClient;
using clients::onspring::Record;
using clients::servicenow::BasicAuthenticator;
using clients::servicenow::TableClient;
using sandbox::FakeKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTable[] = "cmdb_ci_business_app";
constexpr char kListRoute[] = "GET /api/now/table/cmdb_ci_business_app";
// Seed users that exist in Onspring: Fred Jones (record 1) and Beth Anglin (record 2).
constexpr char kFred[] = "92ffec65d8c8615c31646694cfd3a636";
constexpr char kBeth[] = "c45e94b0da2ff4fb995a8abeeef90a18";
// The default seed's business applications (all updated in May 2024, before the generated rows).
constexpr int kSeedApps = 7;
constexpr int kPageSize = 25;

// One generated cmdb_ci_business_app row.
struct AppRow {
  std::string sys_id;
  std::string name;
  std::string number;
  std::string updated_on;

  std::tuple<const std::string&, const std::string&> order() const { return {updated_on, sys_id}; }
};

// `YYYY-MM-DD HH:MM:SS`, `seconds` after 2024-06-01 00:00:00 UTC.
std::string SnTime(int seconds) {
  return absl::FormatTime(
      "%Y-%m-%d %H:%M:%S",
      absl::FromCivil(absl::CivilSecond(2024, 6, 1, 0, 0, 0), absl::UTCTimeZone()) +
          absl::Seconds(seconds),
      absl::UTCTimeZone());
}

// `count` rows "Gen App <first..>", `per_second` of them sharing each sys_updated_on second from
// `first_second` on. sys_ids are random, so their order is neither the names' nor the seed's.
std::vector<AppRow> Generate(int count, int per_second, int first = 0, int first_second = 0) {
  static std::mt19937_64 random(20240601);
  std::vector<AppRow> rows;
  for (int i = 0; i < count; ++i) {
    const int n = first + i;
    rows.push_back({absl::StrFormat("%016x%016x", random(), random()),
                    absl::StrFormat("Gen App %04d", n), absl::StrFormat("APM2%06d", n),
                    SnTime(first_second + i / per_second)});
  }
  return rows;
}

// Sorted the way the pages are: (sys_updated_on, sys_id).
std::vector<AppRow> Sorted(std::vector<AppRow> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const AppRow& a, const AppRow& b) { return a.order() < b.order(); });
  return rows;
}

std::string Description(const AppRow& row) { return "Generated: " + row.name; }

rapidjson::Value& AppTable(rapidjson::Document& seed) {
  for (rapidjson::Value& table : seed["servicenow"]["tables"].GetArray()) {
    if (std::string(table["name"].GetString()) == kTable) return table;
  }
  ADD_FAILURE() << "no " << kTable << " table in the seed";
  return seed["servicenow"]["tables"][0];
}

// The default seed plus `rows` (inserted in a shuffled order), `hidden` sys_ids (acl_hidden) and
// whatever `edit` changes.
std::string MakeSeed(const std::vector<AppRow>& rows, const std::vector<std::string>& hidden = {},
                     const std::function<void(rapidjson::Document&)>& edit = nullptr) {
  rapidjson::Document seed;
  const std::string_view text = sandbox::Sandbox::DefaultSeed();
  seed.Parse(text.data(), text.size());
  auto& alloc = seed.GetAllocator();
  rapidjson::Value& table = AppTable(seed);
  std::vector<AppRow> shuffled = rows;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  const char* kInstallTypes[] = {"On Premise", "Cloud", "Hybrid", "Third Party Hosted"};
  int i = 0;
  for (const AppRow& row : shuffled) {
    rapidjson::Value value(rapidjson::kObjectType);
    auto set = [&](const char* name, const std::string& text) {
      value.AddMember(rapidjson::Value(name, alloc), rapidjson::Value(text.c_str(), alloc), alloc);
    };
    set("sys_id", row.sys_id);
    set("name", row.name);
    set("number", row.number);
    set("short_description", Description(row));
    set("install_type", kInstallTypes[i++ % 4]);
    set("u_cloud_model", "SaaS");
    set("it_application_owner", kFred);
    set("u_primary_it_owner", kBeth);
    set("u_l3_name", kBeth);
    set("u_regulatory_legal_and_compliance", "SOX");
    set("sys_created_on", "2024-01-01 00:00:00");
    set("sys_updated_on", row.updated_on);
    table["rows"].PushBack(value, alloc);
  }
  if (!hidden.empty()) {
    rapidjson::Value ids(rapidjson::kArrayType);
    for (const std::string& id : hidden) ids.PushBack(rapidjson::Value(id.c_str(), alloc), alloc);
    table.AddMember("acl_hidden", ids, alloc);
  }
  if (edit) edit(seed);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  seed.Accept(writer);
  return buffer.GetString();
}

class BatchSyncTest : public SandboxEngineTest {
 protected:
  void StartSandbox(std::string seed_json) {
    sandbox::SandboxOptions options;
    options.seed_json = std::move(seed_json);
    ASSERT_NO_FATAL_FAILURE(SandboxEngineTest::StartSandbox(std::move(options)));
  }

  // A run that stores every checkpoint in `checkpoints_`.
  BatchRun NewRun(v1::SyncMode mode = v1::SYNC_MODE_WRITE_BACK) {
    BatchRun run;
    run.profile = profile_;
    run.upstreams = upstreams_;
    run.engine = engine_.get();
    run.mode = mode;
    run.options.page_size = kPageSize;
    run.options.parallelism = 4;
    run.options.call_timeout = absl::Seconds(10);
    run.checkpoint = [this](const v1::BatchProgress& progress) {
      checkpoints_.push_back(progress);
      return absl::OkStatus();
    };
    return run;
  }

  // Every record of Business Applications (app 300).
  std::vector<Record> Targets() {
    std::promise<absl::StatusOr<std::vector<Record>>> promise;
    upstreams_.onspring->QueryRecords(
        300, "", {3001, 3002, 3003, 3004, 3006, 3007, 3010}, absl::Now() + absl::Seconds(10),
        [&promise](auto records) { promise.set_value(std::move(records)); });
    auto records = promise.get_future().get();
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<Record>{};
  }

  // Business Applications records by name: every name must have exactly one.
  std::map<std::string, Record> TargetsByName() {
    std::map<std::string, Record> by_name;
    for (Record& record : Targets()) {
      const std::string name = record.fields[3001].text;
      EXPECT_TRUE(by_name.emplace(name, std::move(record)).second) << "two records for " << name;
    }
    return by_name;
  }

  // sysparm_query of every logged list read of the table, in order.
  std::vector<std::string> ListQueries() {
    std::vector<std::string> queries;
    for (const auto& entry : sandbox_->request_log().Entries(FakeKind::kServiceNow)) {
      if (entry.route != kListRoute) continue;
      std::string query;
      for (const auto& [key, value] : entry.query) {
        if (key == "sysparm_query") query = value;
      }
      queries.push_back(query);
    }
    return queries;
  }

  // The query parameter `key` of every logged list read.
  std::vector<std::string> ListParams(std::string_view key) {
    std::vector<std::string> values;
    for (const auto& entry : sandbox_->request_log().Entries(FakeKind::kServiceNow)) {
      if (entry.route != kListRoute) continue;
      for (const auto& [k, value] : entry.query) {
        if (k == key) values.push_back(value);
      }
    }
    return values;
  }

  // Logged Onspring calls of `route` whose JSON body has appId 300.
  int64_t TargetAppCalls(std::string_view route) {
    int64_t count = 0;
    for (const auto& entry : sandbox_->request_log().Entries(FakeKind::kOnspring)) {
      if (entry.route != route) continue;
      rapidjson::Document body;
      body.Parse(entry.body.c_str());
      if (body.IsObject() && body.HasMember("appId") && body["appId"].IsInt() &&
          body["appId"].GetInt() == 300) {
        ++count;
      }
    }
    return count;
  }

  void Patch(const std::string& sys_id, const std::string& json) {
    auto response = onsync::testing::HttpRequest(
        "127.0.0.1", sandbox_->servicenow_port(), "PATCH",
        absl::StrCat("/api/now/table/", kTable, "/", sys_id), json,
        {{"Authorization", "Basic YWRtaW46c2FuZGJveA=="},  // admin:sandbox
         {"Content-Type", "application/json"},
         {"Accept", "application/json"}});
    ASSERT_TRUE(response.ok()) << response.status();
    ASSERT_EQ(response->status, 200) << response->body;
  }

  void SetFaults(FakeKind fake, int64_t fail_next) {
    sandbox::FaultConfig faults;
    faults.fail_next = fail_next;
    faults.fail_status = 503;
    faults.retry_after_s = 0;
    sandbox_->SetFaults(fake, faults);
  }

  std::vector<v1::BatchProgress> checkpoints_;
};

void ExpectCounts(const v1::BatchProgress& progress, int64_t seen, int64_t created, int64_t updated,
                  int64_t unchanged, int64_t failed) {
  EXPECT_EQ(progress.seen(), seen);
  EXPECT_EQ(progress.created(), created);
  EXPECT_EQ(progress.updated(), updated);
  EXPECT_EQ(progress.unchanged(), unchanged);
  EXPECT_EQ(progress.failed(), failed);
}

TEST(BatchPageQueryTest, FirstPageThenStrictlyAfterTheCursor) {
  EXPECT_EQ(*BatchPageQuery("", "", ""), "ORDERBYsys_updated_on^ORDERBYsys_id");
  EXPECT_EQ(*BatchPageQuery("2024-06-01 00:00:00", "", ""),
            "sys_updated_on>=2024-06-01 00:00:00^ORDERBYsys_updated_on^ORDERBYsys_id");
  EXPECT_EQ(*BatchPageQuery("", "2024-06-01 00:00:05", "0f3a"),
            "sys_updated_on>2024-06-01 00:00:05^NQsys_updated_on=2024-06-01 "
            "00:00:05^sys_id>0f3a^ORDERBYsys_updated_on^ORDERBYsys_id");
  // A cursor at or after `since` implies it.
  EXPECT_EQ(*BatchPageQuery("2024-06-01 00:00:05", "2024-06-01 00:00:05", "0f3a"),
            *BatchPageQuery("", "2024-06-01 00:00:05", "0f3a"));
  // A cursor before `since` keeps it in both groups.
  EXPECT_EQ(*BatchPageQuery("2024-07-01 00:00:00", "2024-06-01 00:00:05", "0f3a"),
            "sys_updated_on>=2024-07-01 00:00:00^sys_updated_on>2024-06-01 "
            "00:00:05^NQsys_updated_on>=2024-07-01 00:00:00^sys_updated_on=2024-06-01 "
            "00:00:05^sys_id>0f3a^ORDERBYsys_updated_on^ORDERBYsys_id");
  // Values go through the builder.
  EXPECT_THAT(*BatchPageQuery("", "2024-06-01 00:00:05", "a^NQb"), HasSubstr("sys_id>a^^NQb"));
}

TEST(BatchPageQueryTest, RejectsMalformedTimesAndCursors) {
  for (const char* bad : {"2024-06-01T00:00:00Z", "2024-06-01", "2024-13-01 00:00:00",
                          "javascript:gs.dateGenerate('2024-01-01','00:00:00')"}) {
    EXPECT_EQ(BatchPageQuery(bad, "", "").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_EQ(BatchPageQuery("", bad, "x").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(BatchPageQuery("", "", "0f3a").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BatchSyncTest, RejectsBadRuns) {
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed({})));
  EXPECT_EQ(RunBatch(NewRun(v1::SYNC_MODE_RESPOND)).status().code(),
            absl::StatusCode::kInvalidArgument);
  BatchRun bad_since = NewRun();
  bad_since.since = "2024-06-01T00:00:00Z";
  EXPECT_EQ(RunBatch(std::move(bad_since)).status().code(), absl::StatusCode::kInvalidArgument);
  auto no_target = std::make_shared<v1::Profile>(*profile_);
  no_target->clear_target();
  BatchRun run = NewRun();
  run.profile = no_target;
  EXPECT_EQ(RunBatch(std::move(run)).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sandbox_->request_log().Entries().size(), 0u);
}

TEST_F(BatchSyncTest, FullRunUpsertsEveryRowAndARepeatWritesNothing) {
  const std::vector<AppRow> rows = Generate(300, 3);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));

  absl::StatusOr<v1::BatchProgress> result = RunBatch(NewRun());
  ASSERT_TRUE(result.ok()) << result.status();
  // The seed's 7 apps have only their Name in Onspring: updated; the generated ones: created.
  ExpectCounts(*result, 300 + kSeedApps, 300, kSeedApps, 0, 0);
  const AppRow last = Sorted(rows).back();
  EXPECT_EQ(result->cursor_updated_on(), last.updated_on);
  EXPECT_EQ(result->cursor_sys_id(), last.sys_id);
  // One checkpoint per page, the last one equal to the result.
  ASSERT_EQ(checkpoints_.size(), 13u);  // ceil(307 / 25)
  for (size_t i = 0; i + 1 < checkpoints_.size(); ++i) {
    EXPECT_EQ(checkpoints_[i].seen(), static_cast<int64_t>(kPageSize * (i + 1)));
  }
  EXPECT_EQ(checkpoints_.back().SerializeAsString(), result->SerializeAsString());

  // Per page: one ServiceNow read (offset 0, limit 25, every field at once) and one target query;
  // then the empty page that ends the run, read again with its count.
  EXPECT_EQ(TargetAppCalls("POST /Records/Query"), 13);
  EXPECT_EQ(ListQueries().size(), 13u + 2u);
  for (const std::string& offset : ListParams("sysparm_offset")) EXPECT_EQ(offset, "0");
  for (const std::string& limit : ListParams("sysparm_limit")) EXPECT_EQ(limit, "25");
  for (const std::string& fields : ListParams("sysparm_fields")) {
    EXPECT_EQ(fields,
              "sys_id,sys_updated_on,name,it_application_owner.name,u_cloud_model,"
              "short_description,install_type,u_primary_it_owner.name,u_l3_name.name,"
              "u_regulatory_legal_and_compliance,number");
  }

  std::map<std::string, Record> targets = TargetsByName();
  EXPECT_EQ(targets.size(), 300u + kSeedApps);
  for (const AppRow& row : rows) {
    ASSERT_TRUE(targets.contains(row.name)) << row.name;
    Record& record = targets[row.name];
    EXPECT_EQ(record.fields[3002].text, row.number);
    EXPECT_EQ(record.fields[3003].text, Description(row));
    EXPECT_EQ(record.fields[3004].type, FieldValue::Type::kGuid);
    EXPECT_THAT(record.fields[3006].integers, ElementsAre(1));  // Fred Jones
    EXPECT_THAT(record.fields[3007].integers, ElementsAre(2));  // Beth Anglin
    EXPECT_THAT(record.fields[3010].integers, ElementsAre(2));  // SOX
  }
  EXPECT_EQ(targets["Payroll"].fields[3002].text, "APM0001001");

  // A repeat with cold caches (a new process): nothing changed, nothing written, and the
  // references are looked up per page (one query per referenced app), never per row.
  sandbox_->request_log().Clear();
  checkpoints_.clear();
  engine_ = std::make_unique<SyncEngine>(clients::RealClock(), EngineOptions{});
  absl::StatusOr<v1::BatchProgress> repeat = RunBatch(NewRun());
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  ExpectCounts(*repeat, 300 + kSeedApps, 0, 0, 300 + kSeedApps, 0);
  EXPECT_EQ(sandbox_->CallCount(FakeKind::kOnspring, "PUT /Records"), 0);
  // 13 pages: one query for each page's target records, and at most one per referenced app
  // (users, regulation types) and page for the values not cached yet; never one per row.
  const int64_t queries = sandbox_->CallCount(FakeKind::kOnspring, "POST /Records/Query");
  EXPECT_GE(queries, 13 + 2);
  EXPECT_LE(queries, 13 * 3);
}

TEST_F(BatchSyncTest, RowsSharingOneSecondAcrossPagesAreNeitherSkippedNorRepeated) {
  std::vector<AppRow> rows = Generate(60, 60);  // all at 2024-06-01 00:00:00
  for (AppRow& row : Generate(10, 1, 60, 1)) rows.push_back(row);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));

  absl::StatusOr<v1::BatchProgress> result = RunBatch(NewRun());
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectCounts(*result, 70 + kSeedApps, 70, kSeedApps, 0, 0);
  // Every row saved exactly once; one record per row.
  EXPECT_EQ(TargetAppCalls("PUT /Records"), 70 + kSeedApps);
  EXPECT_EQ(TargetsByName().size(), 70u + kSeedApps);
  // Pages 1 (7 seed rows + 18) and 2 (25) ended inside the shared second; pages 2 and 3 went on
  // from the sys_id within it.
  ASSERT_GE(checkpoints_.size(), 3u);
  EXPECT_EQ(checkpoints_[0].cursor_updated_on(), SnTime(0));
  EXPECT_EQ(checkpoints_[1].cursor_updated_on(), SnTime(0));
  EXPECT_EQ(checkpoints_[2].cursor_updated_on(), SnTime(8));
  const std::vector<std::string> queries = ListQueries();
  ASSERT_GE(queries.size(), 3u);
  for (int page : {1, 2}) {
    EXPECT_EQ(queries[page],
              *BatchPageQuery("", SnTime(0), checkpoints_[page - 1].cursor_sys_id()));
    EXPECT_THAT(queries[page], HasSubstr("^NQsys_updated_on=2024-06-01 00:00:00^sys_id>"));
  }
}

TEST_F(BatchSyncTest, AclHiddenRowsShortenPagesAndTheRunStillReachesTheEnd) {
  const std::vector<AppRow> rows = Generate(120, 2);
  const std::vector<AppRow> sorted = Sorted(rows);
  // Every 5th of the first 50, then 30 in a row (more than a page: a page with nothing visible).
  std::vector<std::string> hidden;
  std::set<std::string> hidden_names;
  for (int i = 0; i < static_cast<int>(sorted.size()); ++i) {
    if ((i < 50 && i % 5 == 0) || (i >= 60 && i < 90)) {
      hidden.push_back(sorted[i].sys_id);
      hidden_names.insert(sorted[i].name);
    }
  }
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows, hidden)));
  const int64_t visible = static_cast<int64_t>(rows.size() - hidden.size());

  absl::StatusOr<v1::BatchProgress> result = RunBatch(NewRun());
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectCounts(*result, visible + kSeedApps, visible, kSeedApps, 0, 0);
  EXPECT_EQ(result->cursor_sys_id(), sorted.back().sys_id);
  std::map<std::string, Record> targets = TargetsByName();
  for (const AppRow& row : rows) {
    EXPECT_EQ(targets.contains(row.name), !hidden_names.contains(row.name)) << row.name;
  }
  // Pages came back short (and not at the end), and the all-hidden page was read past by offset.
  int short_pages = 0;
  for (size_t i = 0; i + 1 < checkpoints_.size(); ++i) {
    const int64_t page = checkpoints_[i].seen() - (i == 0 ? 0 : checkpoints_[i - 1].seen());
    EXPECT_GT(page, 0);
    if (page < kPageSize) ++short_pages;
  }
  EXPECT_GE(short_pages, 2);
  const std::vector<std::string> offsets = ListParams("sysparm_offset");
  EXPECT_NE(std::find(offsets.begin(), offsets.end(), "25"), offsets.end());
}

TEST_F(BatchSyncTest, ResumeAfterAFailedCheckpointRedoesOnlyTheUncheckpointedPage) {
  const std::vector<AppRow> rows = Generate(150, 2);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));

  BatchRun first = NewRun();
  first.checkpoint = [this](const v1::BatchProgress& progress) {
    if (checkpoints_.size() == 3) return absl::UnavailableError("job store down");
    checkpoints_.push_back(progress);
    return absl::OkStatus();
  };
  absl::StatusOr<v1::BatchProgress> failed = RunBatch(std::move(first));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()), HasSubstr("job store down"));
  ASSERT_EQ(checkpoints_.size(), 3u);
  const v1::BatchProgress stored = checkpoints_.back();
  EXPECT_EQ(stored.seen(), 3 * kPageSize);
  const std::vector<std::string> first_queries = ListQueries();
  ASSERT_EQ(first_queries.size(), 4u);  // pages 1-4; page 4 was done but not checkpointed

  sandbox_->request_log().Clear();
  BatchRun resumed = NewRun();
  resumed.progress = stored;
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(resumed));
  ASSERT_TRUE(result.ok()) << result.status();
  // Page 4's rows were created by the first run: the second finds them unchanged.
  ExpectCounts(*result, 150 + kSeedApps, 150 - kPageSize, kSeedApps, kPageSize, 0);
  EXPECT_EQ(TargetsByName().size(), 150u + kSeedApps);  // no duplicate creates

  // The resumed run started at page 4 and never read pages 1-3 again.
  const std::vector<std::string> queries = ListQueries();
  ASSERT_FALSE(queries.empty());
  EXPECT_EQ(queries.front(), first_queries[3]);
  EXPECT_THAT(queries.front(), HasSubstr(stored.cursor_sys_id()));
  for (int page = 0; page < 3; ++page) {
    EXPECT_EQ(std::count(queries.begin(), queries.end(), first_queries[page]), 0) << page;
  }
}

TEST_F(BatchSyncTest, IncrementalRunFromTheWatermarkSeesChangedRowsAndRowsAtTheWatermark) {
  const std::vector<AppRow> rows = Generate(40, 2);  // the last two share the last second
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  absl::StatusOr<v1::BatchProgress> full = RunBatch(NewRun());
  ASSERT_TRUE(full.ok()) << full.status();
  const std::string watermark = full->cursor_updated_on();
  EXPECT_EQ(watermark, SnTime(19));

  const std::vector<AppRow> sorted = Sorted(rows);
  for (int i : {3, 17, 25}) {
    ASSERT_NO_FATAL_FAILURE(
        Patch(sorted[i].sys_id, absl::StrCat(R"({"short_description": "Changed )", i, R"("})")));
  }
  sandbox_->request_log().Clear();
  checkpoints_.clear();
  BatchRun incremental = NewRun();
  incremental.since = watermark;
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(incremental));
  ASSERT_TRUE(result.ok()) << result.status();
  // The 3 changed rows, plus the 2 rows at exactly the watermark (seen again, unchanged).
  ExpectCounts(*result, 5, 0, 3, 2, 0);
  EXPECT_GT(result->cursor_updated_on(), watermark);
  const std::vector<std::string> queries = ListQueries();
  ASSERT_FALSE(queries.empty());
  EXPECT_EQ(queries.front(),
            absl::StrCat("sys_updated_on>=", watermark, "^ORDERBYsys_updated_on^ORDERBYsys_id"));
  std::map<std::string, Record> targets = TargetsByName();
  EXPECT_EQ(targets[sorted[17].name].fields[3003].text, "Changed 17");
  EXPECT_EQ(targets[sorted[18].name].fields[3003].text, Description(sorted[18]));
}

TEST_F(BatchSyncTest, CancelBetweenPagesStopsWithCancelledAfterTheCheckpoint) {
  const std::vector<AppRow> rows = Generate(100, 1);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  BatchRun run = NewRun();
  run.cancelled = [this] { return checkpoints_.size() == 2; };
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(run));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(checkpoints_.size(), 2u);
  EXPECT_EQ(checkpoints_.back().seen(), 2 * kPageSize);
  EXPECT_EQ(ListQueries().size(), 2u);  // no page read after the cancel
}

TEST_F(BatchSyncTest, CancelMidPageCheckpointsTheRowsDoneAndAResumeFinishes) {
  const std::vector<AppRow> rows = Generate(60, 1);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  BatchRun run = NewRun();
  int polls = 0;
  run.cancelled = [&polls] { return ++polls == 12; };  // within the first page
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(run));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(checkpoints_.size(), 1u);
  const v1::BatchProgress stored = checkpoints_.back();
  EXPECT_GT(stored.seen(), 0);
  EXPECT_LT(stored.seen(), kPageSize);
  // The cursor is the last row started; every row before it is done.
  const int64_t generated_done = stored.seen() - kSeedApps;
  ASSERT_GT(generated_done, 0);
  EXPECT_EQ(stored.cursor_sys_id(), Sorted(rows)[generated_done - 1].sys_id);
  EXPECT_EQ(static_cast<int64_t>(TargetsByName().size()), kSeedApps + generated_done);

  BatchRun resumed = NewRun();
  resumed.progress = stored;
  absl::StatusOr<v1::BatchProgress> finished = RunBatch(std::move(resumed));
  ASSERT_TRUE(finished.ok()) << finished.status();
  ExpectCounts(*finished, 60 + kSeedApps, 60, kSeedApps, 0, 0);
  EXPECT_EQ(TargetsByName().size(), 60u + kSeedApps);
}

TEST_F(BatchSyncTest, ServiceNowOutageStopsWithUnavailableAtTheLastGoodCheckpoint) {
  const std::vector<AppRow> rows = Generate(100, 1);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  BatchRun run = NewRun();
  run.checkpoint = [this](const v1::BatchProgress& progress) {
    checkpoints_.push_back(progress);
    if (checkpoints_.size() == 2) SetFaults(FakeKind::kServiceNow, -1);
    return absl::OkStatus();
  };
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(run));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  ASSERT_EQ(checkpoints_.size(), 2u);
  EXPECT_EQ(checkpoints_.back().seen(), 2 * kPageSize);

  // Back up: the job's retry resumes from the checkpoint.
  SetFaults(FakeKind::kServiceNow, 0);
  BatchRun resumed = NewRun();
  resumed.progress = checkpoints_.back();
  absl::StatusOr<v1::BatchProgress> finished = RunBatch(std::move(resumed));
  ASSERT_TRUE(finished.ok()) << finished.status();
  ExpectCounts(*finished, 100 + kSeedApps, 100, kSeedApps, 0, 0);
  EXPECT_EQ(TargetsByName().size(), 100u + kSeedApps);
}

TEST_F(BatchSyncTest, OnspringOutageDuringRowSyncsStopsWithoutCheckpointingThePage) {
  const std::vector<AppRow> rows = Generate(100, 1);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  BatchRun run = NewRun();
  int polls_after_first_page = 0;
  // Polled before page 2's read, then before its first row (after its target query): Onspring
  // goes down just before the rows' saves.
  run.cancelled = [this, &polls_after_first_page] {
    if (checkpoints_.size() == 1 && ++polls_after_first_page == 2) {
      SetFaults(FakeKind::kOnspring, -1);
    }
    return false;
  };
  absl::StatusOr<v1::BatchProgress> result = RunBatch(std::move(run));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_EQ(checkpoints_.size(), 1u);  // page 2 is not checkpointed with its rows "failed"

  SetFaults(FakeKind::kOnspring, 0);
  BatchRun resumed = NewRun();
  resumed.progress = checkpoints_.back();
  absl::StatusOr<v1::BatchProgress> finished = RunBatch(std::move(resumed));
  ASSERT_TRUE(finished.ok()) << finished.status();
  EXPECT_EQ(finished->seen(), 100 + kSeedApps);
  EXPECT_EQ(finished->failed(), 0);
  EXPECT_EQ(TargetsByName().size(), 100u + kSeedApps);
}

TEST_F(BatchSyncTest, DryRunCountsPlannedWritesAndWritesNothing) {
  const std::vector<AppRow> rows = Generate(30, 1);
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  absl::StatusOr<v1::BatchProgress> result = RunBatch(NewRun(v1::SYNC_MODE_DRY_RUN));
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectCounts(*result, 30 + kSeedApps, 30, kSeedApps, 0, 0);
  EXPECT_EQ(sandbox_->CallCount(FakeKind::kOnspring, "PUT /Records"), 0);
  EXPECT_EQ(TargetsByName().size(), static_cast<size_t>(kSeedApps));
}

TEST_F(BatchSyncTest, RowFailuresAreCountedAndTheRunGoesOn) {
  std::vector<AppRow> rows = Generate(30, 1);
  AppRow no_name = Generate(1, 1, 100, 40).front();
  no_name.name = "";
  rows.push_back(no_name);
  // Two ServiceNow rows with one name in one page: ambiguous.
  for (AppRow twin : Generate(2, 2, 101, 40)) {
    twin.name = "Twin App";
    rows.push_back(twin);
  }
  // Two Onspring records named Payroll: ambiguous.
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows, {}, [](rapidjson::Document& seed) {
    auto& alloc = seed.GetAllocator();
    for (rapidjson::Value& app : seed["onspring"]["apps"].GetArray()) {
      if (app["id"].GetInt() != 300) continue;
      rapidjson::Value fields(rapidjson::kObjectType);
      fields.AddMember("3001", "Payroll", alloc);
      rapidjson::Value record(rapidjson::kObjectType);
      record.AddMember("recordId", 8, alloc);
      record.AddMember("fields", fields, alloc);
      app["records"].PushBack(record, alloc);
    }
  })));
  absl::StatusOr<v1::BatchProgress> result = RunBatch(NewRun());
  ASSERT_TRUE(result.ok()) << result.status();
  ExpectCounts(*result, kSeedApps + 33, 30, kSeedApps - 1, 0, 4);
  EXPECT_EQ(result->cursor_updated_on(), SnTime(40));
}

TEST_F(BatchSyncTest, KeysAreMatchedExactlyNotCaseInsensitively) {
  std::vector<AppRow> rows = Generate(2, 2);
  rows[0].name = "Case App";
  rows[1].name = "CASE APP";
  ASSERT_NO_FATAL_FAILURE(StartSandbox(MakeSeed(rows)));
  absl::StatusOr<v1::BatchProgress> first = RunBatch(NewRun());
  ASSERT_TRUE(first.ok()) << first.status();
  ExpectCounts(*first, kSeedApps + 2, 2, kSeedApps, 0, 0);
  // Onspring's eq ignores case: each query finds both records; each row keeps its own.
  absl::StatusOr<v1::BatchProgress> second = RunBatch(NewRun());
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectCounts(*second, kSeedApps + 2, 0, 0, kSeedApps + 2, 0);
  std::map<std::string, Record> targets = TargetsByName();
  EXPECT_TRUE(targets.contains("Case App"));
  EXPECT_TRUE(targets.contains("CASE APP"));
}

}  // namespace
}  // namespace onsync::engine
