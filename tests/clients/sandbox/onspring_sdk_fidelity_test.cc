// Fidelity: the public Onspring JS SDK (npm onspring-api-sdk, installed by scripts/setup.sh)
// queries, gets, batch-gets and saves records in the sandbox, and onsync's OnspringClient sees
// exactly the same data.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "clients/http/curl_transport.h"
#include "clients/onspring/filter.h"
#include "clients/onspring/onspring_client.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/process.h"

namespace onsync::clients::onspring {
namespace {

constexpr int kUsersApp = 100;
const std::vector<int> kFields = {1001, 1002, 1005};

absl::StatusOr<std::vector<Record>> Query(OnspringClient& client, std::string_view full_name) {
  absl::Notification done;
  absl::StatusOr<std::vector<Record>> result = absl::UnknownError("no result");
  client.QueryRecords(kUsersApp, *Filter::Eq(1005, Literal::String(full_name)).Build(), kFields,
                      absl::Now() + absl::Seconds(10), [&](auto records) {
                        result = std::move(records);
                        done.Notify();
                      });
  done.WaitForNotification();
  return result;
}

// Compares one SDK record ({"recordId", "fields": {"1001": "Dana", ...}}) with ours.
void ExpectSameRecord(const rapidjson::Value& sdk_record, const Record& ours) {
  EXPECT_EQ(sdk_record["recordId"].GetInt64(), ours.record_id);
  const rapidjson::Value& fields = sdk_record["fields"];
  for (const int field_id : kFields) {
    const std::string key = absl::StrCat(field_id);
    ASSERT_TRUE(fields.HasMember(key.c_str())) << key;
    const auto it = ours.fields.find(field_id);
    ASSERT_NE(it, ours.fields.end()) << key;
    EXPECT_EQ(fields[key.c_str()].GetString(), it->second.text) << key;
  }
}

TEST(OnspringSdkFidelityTest, TheJsSdkAndOurClientSeeTheSameRecords) {
  const std::string sdk_dir = testing::SourcePath("tests/clients/sandbox/sdk");
  ASSERT_EQ(access((sdk_dir + "/node_modules/onspring-api-sdk").c_str(), F_OK), 0)
      << "the Onspring JS SDK is not installed: run scripts/setup.sh";

  auto sandbox = sandbox::Sandbox::Start({});
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  auto node =
      testing::ChildProcess::Start({"/usr/bin/env", "node", sdk_dir + "/onspring_sdk_check.js",
                                    (*sandbox)->onspring_url(), "sandbox-key"});
  ASSERT_TRUE(node.ok()) << node.status();
  ASSERT_EQ(node->Wait(absl::Seconds(60)).value_or(-1), 0) << node->Stderr();
  rapidjson::Document sdk;
  ASSERT_FALSE(sdk.Parse(node->Stdout().c_str()).HasParseError()) << node->Stdout();

  auto transport = CurlTransport::Create();
  ASSERT_TRUE(transport.ok());
  auto client = OnspringClient::Create(
      **transport, **transport, {.base_url = (*sandbox)->onspring_url(), .api_key = "sandbox-key"});
  ASSERT_TRUE(client.ok());

  const auto obrien = Query(**client, "Zoë Müller");
  ASSERT_TRUE(obrien.ok()) << obrien.status();
  ASSERT_EQ(obrien->size(), 1u);
  ASSERT_EQ(sdk["query"].Size(), 1u);
  ExpectSameRecord(sdk["query"][0], obrien->front());
  ExpectSameRecord(sdk["get"], obrien->front());
  ASSERT_EQ(sdk["batch"].Size(), 1u);
  ExpectSameRecord(sdk["batch"][0], obrien->front());

  // The record the SDK created: our client finds it by the formula full name, with the id the
  // SDK was given.
  const auto ada = Query(**client, "Ada Lovelace");
  ASSERT_TRUE(ada.ok()) << ada.status();
  ASSERT_EQ(ada->size(), 1u);
  EXPECT_EQ(ada->front().record_id, sdk["saved"]["id"].GetInt64());
  ASSERT_EQ(sdk["requery"].Size(), 1u);
  ExpectSameRecord(sdk["requery"][0], ada->front());
  (*transport)->Shutdown();
}

}  // namespace
}  // namespace onsync::clients::onspring
