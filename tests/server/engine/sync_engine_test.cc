// The sync engine against the sandbox (in process, on loopback) with the real clients and
// transport, running the example profile (deploy/examples/business-app.yaml): the PoC scenario,
// upstream call counts, caching, single-flight creates, write-back and dry-run.
#include "server/engine/sync_engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "clients/http/curl_transport.h"
#include "clients/http/retrying_transport.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/table_client.h"
#include "server/config/config_loader.h"
#include "server/config/secrets.h"
#include "tests/sandbox/sandbox.h"
#include "tests/server/engine/sandbox_engine_test_base.h"
#include "tests/support/process.h"

namespace onsync::engine {
namespace {

using clients::onspring::OnspringClient;
using clients::servicenow::BasicAuthenticator;
using clients::servicenow::TableClient;
using sandbox::FakeKind;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kUsersByName[] = "POST /Records/Query";

class SyncEngineTest : public SandboxEngineTest {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(StartSandbox()); }

  absl::StatusOr<v1::SyncResult> Sync(std::string key, v1::SyncMode mode = v1::SYNC_MODE_RESPOND,
                                      int64_t record_id = 0,
                                      absl::Duration timeout = absl::Seconds(10)) {
    return Sync(profile_, std::move(key), mode, record_id, timeout);
  }

  absl::StatusOr<v1::SyncResult> Sync(std::shared_ptr<const v1::Profile> profile, std::string key,
                                      v1::SyncMode mode, int64_t record_id = 0,
                                      absl::Duration timeout = absl::Seconds(10)) {
    v1::Trigger trigger;
    trigger.set_key(std::move(key));
    trigger.set_record_id(record_id);
    std::promise<absl::StatusOr<v1::SyncResult>> promise;
    engine_->Run(std::move(profile), upstreams_, trigger, mode, absl::Now() + timeout,
                 [&promise](absl::StatusOr<v1::SyncResult> result) {
                   promise.set_value(std::move(result));
                 });
    return promise.get_future().get();
  }

  // Records of an Onspring app whose field equals `value`, read through the API.
  std::vector<clients::onspring::Record> FindRecords(int app_id, int field_id,
                                                     const std::string& value) {
    std::promise<absl::StatusOr<std::vector<clients::onspring::Record>>> promise;
    upstreams_.onspring->QueryRecords(
        app_id, absl::StrCat(field_id, " eq '", value, "'"), {}, absl::Now() + absl::Seconds(5),
        [&promise](auto records) { promise.set_value(std::move(records)); });
    auto records = promise.get_future().get();
    EXPECT_TRUE(records.ok()) << records.status();
    return records.ok() ? *records : std::vector<clients::onspring::Record>{};
  }

  int64_t Calls(FakeKind fake, std::string_view route) { return sandbox_->CallCount(fake, route); }
  int64_t UpstreamCalls() {
    int64_t total = 0;
    for (FakeKind fake : {FakeKind::kServiceNow, FakeKind::kOnspring}) {
      for (const auto& [route, count] : sandbox_->request_log().Counts(fake)) total += count;
    }
    return total;
  }

  static const google::protobuf::Value& Value(const v1::SyncResult& result,
                                              const std::string& key) {
    return result.values().fields().at(key);
  }
};

TEST_F(SyncEngineTest, PocScenarioRespondsWithFlatValuesAndCreatesTheMissingUser) {
  absl::StatusOr<v1::SyncResult> result = Sync("Payroll");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Value(*result, "appName").string_value(), "Payroll");
  EXPECT_EQ(Value(*result, "shortName").string_value(), "APM0001001");
  EXPECT_EQ(Value(*result, "description").string_value(), "Processes employee pay and deductions");
  EXPECT_EQ(Value(*result, "installType").string_value(), "On Premise");
  EXPECT_EQ(Value(*result, "cloudModel").string_value(), "Not Applicable");
  EXPECT_EQ(Value(*result, "appOwner").number_value(), 1);  // Fred Jones
  EXPECT_EQ(Value(*result, "itOwner").number_value(), 2);   // Beth Anglin
  const double l3 = Value(*result, "l3").number_value();    // Abel Tuter, created
  EXPECT_GE(l3, 4);
  EXPECT_EQ(Value(*result, "l2").number_value(), l3);
  EXPECT_EQ(Value(*result, "regulatory").string_value(), "1|2|3");  // GDPR, SOX, HIPAA
  EXPECT_THAT(result->warnings(), IsEmpty());
  ASSERT_EQ(result->created_size(), 1);
  EXPECT_EQ(result->created(0).app_id(), 100);
  EXPECT_EQ(result->created(0).record_id(), static_cast<int64_t>(l3));
  EXPECT_EQ(result->created(0).match_value(), "Abel Tuter");
  EXPECT_EQ(result->mode(), v1::SYNC_MODE_RESPOND);
  EXPECT_FALSE(result->written());

  // The user was created with the PoC's rules; the full name is the formula of first + last.
  auto users = FindRecords(100, 1005, "Abel Tuter");
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].record_id, static_cast<int64_t>(l3));
  EXPECT_EQ(users[0].fields.at(1001).text, "Abel");
  EXPECT_EQ(users[0].fields.at(1002).text, "Tuter");
  EXPECT_EQ(users[0].fields.at(1003).text, "abel.tuter");
  EXPECT_EQ(users[0].fields.at(1004).text, "abel.tuter@example.com");
  EXPECT_EQ(users[0].fields.at(1006).text, "6f0caae9-2f2d-5073-8d41-592671697963");
  EXPECT_EQ(users[0].fields.at(1007).text, "9e34f1a4-7bbb-5b84-af5b-0b954f359412");
}

TEST_F(SyncEngineTest, ColdEventCostsOneReadOneQueryPerAppAndOneSavePerMissingRecord) {
  ASSERT_TRUE(Sync("Payroll").ok());
  EXPECT_EQ(Calls(FakeKind::kServiceNow, "GET /api/now/table/cmdb_ci_business_app"), 1);
  EXPECT_EQ(Calls(FakeKind::kOnspring, kUsersByName), 2);    // users, regulation types
  EXPECT_EQ(Calls(FakeKind::kOnspring, "PUT /Records"), 1);  // Abel Tuter
  EXPECT_EQ(UpstreamCalls(), 4);
}

TEST_F(SyncEngineTest, WarmEventCostsOnlyTheServiceNowRead) {
  ASSERT_TRUE(Sync("Payroll").ok());
  sandbox_->request_log().Clear();
  absl::StatusOr<v1::SyncResult> warm = Sync("Payroll");
  ASSERT_TRUE(warm.ok()) << warm.status();
  EXPECT_EQ(UpstreamCalls(), 1);
  EXPECT_THAT(warm->created(), IsEmpty());
  EXPECT_EQ(Value(*warm, "regulatory").string_value(), "1|2|3");
}

TEST_F(SyncEngineTest, ConcurrentEventsCreateEachMissingUserOnce) {
  // Legacy CRM: Charlie Day and Abel Tuter are missing; Fred Jones exists.
  constexpr int kEvents = 64;
  std::vector<std::promise<absl::StatusOr<v1::SyncResult>>> promises(kEvents);
  v1::Trigger trigger;
  trigger.set_key("Legacy CRM");
  for (auto& promise : promises) {
    engine_->Run(profile_, upstreams_, trigger, v1::SYNC_MODE_RESPOND,
                 absl::Now() + absl::Seconds(20),
                 [&promise](absl::StatusOr<v1::SyncResult> result) {
                   promise.set_value(std::move(result));
                 });
  }
  std::set<double> owners;
  int reported_creates = 0;
  for (auto& promise : promises) {
    absl::StatusOr<v1::SyncResult> result = promise.get_future().get();
    ASSERT_TRUE(result.ok()) << result.status();
    owners.insert(Value(*result, "appOwner").number_value());
    reported_creates += result->created_size();
  }
  EXPECT_EQ(owners.size(), 1u);
  EXPECT_EQ(reported_creates, 2);
  EXPECT_EQ(Calls(FakeKind::kOnspring, "PUT /Records"), 2);
  EXPECT_EQ(FindRecords(100, 1005, "Charlie Day").size(), 1u);
  EXPECT_EQ(FindRecords(100, 1005, "Abel Tuter").size(), 1u);
}

TEST_F(SyncEngineTest, HostileNamesMatchExactly) {
  for (const std::string key : {"O'Brien Ledger", "Pay^Roll", "Zoë ✓ Portal"}) {
    absl::StatusOr<v1::SyncResult> result = Sync(key);
    ASSERT_TRUE(result.ok()) << key << ": " << result.status();
    EXPECT_EQ(Value(*result, "appName").string_value(), key);
  }
  // Dana O'Brien was created once, and is found (not created again) by her exact name.
  EXPECT_EQ(FindRecords(100, 1005, "Dana O''Brien").size(), 1u);
  // "Payroll" does not match "Payroll Archive", and a prefix matches nothing.
  EXPECT_EQ(Value(*Sync("Payroll"), "shortName").string_value(), "APM0001001");
  EXPECT_EQ(Sync("Pay").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Sync("payroll").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SyncEngineTest, EmptyReferenceIsNullWithAWarning) {
  absl::StatusOr<v1::SyncResult> result = Sync("Customer Portal");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(Value(*result, "l3").has_null_value());
  EXPECT_EQ(Value(*result, "regulatory").string_value(), "");
  std::vector<std::string> warnings;
  for (const auto& w : result->warnings()) warnings.push_back(w.code() + ":" + w.field());
  EXPECT_THAT(warnings, UnorderedElementsAre("EMPTY_REFERENCE:l2", "EMPTY_REFERENCE:l3",
                                             "EMPTY_REFERENCE:regulatory"));
}

TEST_F(SyncEngineTest, UnknownRegulationIsLeftOutWithAWarning) {
  absl::StatusOr<v1::SyncResult> result = Sync("Legacy CRM");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Value(*result, "regulatory").string_value(), "1");
  ASSERT_EQ(result->warnings_size(), 1);
  EXPECT_EQ(result->warnings(0).code(), "REFERENCE_NOT_FOUND");
  EXPECT_EQ(result->warnings(0).field(), "regulatory");
  EXPECT_THAT(result->warnings(0).message(), ::testing::HasSubstr("\"FOO-123\""));
}

TEST_F(SyncEngineTest, WriteBackWritesChangedFieldsOnlyAndNothingOnARepeat) {
  absl::StatusOr<v1::SyncResult> first = Sync("Payroll", v1::SYNC_MODE_WRITE_BACK);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->written());
  EXPECT_EQ(first->target_record_id(), 1);
  std::vector<std::string> changed;
  for (const auto& change : first->changes()) changed.push_back(change.field());
  // The seed's record has only the Name: everything else changes, the name does not.
  EXPECT_THAT(changed, UnorderedElementsAre("appOwner", "cloudModel", "description", "installType",
                                            "itOwner", "l2", "l3", "regulatory", "shortName"));
  auto record = FindRecords(300, 3001, "Payroll");
  ASSERT_EQ(record.size(), 1u);
  EXPECT_EQ(record[0].fields.at(3002).text, "APM0001001");
  EXPECT_THAT(record[0].fields.at(3006).integers, ElementsAre(1));
  EXPECT_THAT(record[0].fields.at(3010).integers, ElementsAre(1, 2, 3));
  EXPECT_EQ(record[0].fields.at(3004).type, clients::onspring::FieldValue::Type::kGuid);

  sandbox_->request_log().Clear();
  absl::StatusOr<v1::SyncResult> repeat = Sync("Payroll", v1::SYNC_MODE_WRITE_BACK);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_FALSE(repeat->written());
  EXPECT_THAT(repeat->changes(), IsEmpty());
  EXPECT_EQ(Calls(FakeKind::kOnspring, "PUT /Records"), 0);
}

TEST_F(SyncEngineTest, WriteBackChecksTheTriggerRecordIdAgainstTheKey) {
  // Record 2 is "O'Brien Ledger", not Payroll: the id is not trusted, the key finds record 1.
  absl::StatusOr<v1::SyncResult> result = Sync("Payroll", v1::SYNC_MODE_WRITE_BACK, 2);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->target_record_id(), 1);
  // The right id is used directly.
  sandbox_->request_log().Clear();
  result = Sync("Payroll", v1::SYNC_MODE_WRITE_BACK, 1);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->target_record_id(), 1);
  EXPECT_EQ(Calls(FakeKind::kOnspring, "GET /Records/appId/{appId}/recordId/{recordId}"), 1);
}

TEST_F(SyncEngineTest, DryRunPlansButWritesAndCreatesNothing) {
  absl::StatusOr<v1::SyncResult> result = Sync("Payroll", v1::SYNC_MODE_DRY_RUN);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->written());
  EXPECT_EQ(result->mode(), v1::SYNC_MODE_DRY_RUN);
  ASSERT_EQ(result->created_size(), 1);
  EXPECT_EQ(result->created(0).record_id(), 0);
  EXPECT_EQ(result->created(0).match_value(), "Abel Tuter");
  EXPECT_GT(result->changes_size(), 0);
  EXPECT_EQ(Calls(FakeKind::kOnspring, "PUT /Records"), 0);
  EXPECT_THAT(FindRecords(100, 1005, "Abel Tuter"), IsEmpty());
}

TEST_F(SyncEngineTest, NoServiceNowRowIsNotFound) {
  absl::StatusOr<v1::SyncResult> result = Sync("No Such App");
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::HasSubstr("no ServiceNow cmdb_ci_business_app row has name"));
}

TEST_F(SyncEngineTest, TransientUpstreamFailureIsRetriedTransparently) {
  sandbox::FaultConfig faults;
  faults.fail_next = 1;
  faults.fail_status = 503;
  faults.retry_after_s = 0;
  sandbox_->SetFaults(FakeKind::kServiceNow, faults);
  absl::StatusOr<v1::SyncResult> result = Sync("Payroll");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Calls(FakeKind::kServiceNow, "GET /api/now/table/cmdb_ci_business_app"), 2);
}

TEST_F(SyncEngineTest, ServiceNowDownIsUnavailable) {
  sandbox::FaultConfig faults;
  faults.fail_next = -1;
  faults.fail_status = 503;
  faults.retry_after_s = 0;
  sandbox_->SetFaults(FakeKind::kServiceNow, faults);
  EXPECT_EQ(Sync("Payroll").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SyncEngineTest, SlowUpstreamGivesDeadlineExceededWithinTheDeadline) {
  sandbox::FaultConfig faults;
  faults.latency = absl::Seconds(5);
  sandbox_->SetFaults(FakeKind::kServiceNow, faults);
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::SyncResult> result =
      Sync("Payroll", v1::SYNC_MODE_RESPOND, 0, absl::Milliseconds(300));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST_F(SyncEngineTest, OnMissingFailIsNotFound) {
  auto profile = std::make_shared<v1::Profile>(*profile_);
  (*profile->mutable_fields())["regulatory"].mutable_reference()->set_on_missing(
      v1::ON_MISSING_FAIL);
  absl::StatusOr<v1::SyncResult> result = Sync(profile, "Legacy CRM", v1::SYNC_MODE_RESPOND);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(result.status().message()), ::testing::HasSubstr("FOO-123"));
}

TEST_F(SyncEngineTest, RunForRowCreatesAMissingTargetRecordWithItsKey) {
  clients::servicenow::Row row;
  row.fields["name"].value = "Brand New App";
  row.fields["number"].value = "APM0009999";
  row.fields["it_application_owner.name"].value = "Fred Jones";
  row.fields["u_regulatory_legal_and_compliance"].value = "SOX";
  std::promise<absl::StatusOr<v1::SyncResult>> promise;
  engine_->RunForRow(
      profile_, upstreams_, row, std::nullopt, v1::SYNC_MODE_WRITE_BACK,
      absl::Now() + absl::Seconds(10),
      [&promise](absl::StatusOr<v1::SyncResult> result) { promise.set_value(std::move(result)); });
  absl::StatusOr<v1::SyncResult> result = promise.get_future().get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->written());
  auto records = FindRecords(300, 3001, "Brand New App");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].record_id, result->target_record_id());
  EXPECT_EQ(records[0].fields.at(3002).text, "APM0009999");
  EXPECT_THAT(records[0].fields.at(3006).integers, ElementsAre(1));
  EXPECT_THAT(records[0].fields.at(3010).integers, ElementsAre(2));
  // Fields ServiceNow did not return are warned about, not written.
  EXPECT_FALSE(records[0].fields.contains(3003));
}

}  // namespace
}  // namespace onsync::engine
