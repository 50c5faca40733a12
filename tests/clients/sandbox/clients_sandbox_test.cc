// The ServiceNow and Onspring clients, through the real transport and retry policy, against the
// sandbox: happy paths, auth and not-found errors, retries (429 + Retry-After, 503), the retry
// cap, deadlines, HTML error bodies, paging over short pages, and hostile values.
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "clients/http/curl_transport.h"
#include "clients/http/retrying_transport.h"
#include "clients/onspring/filter.h"
#include "clients/onspring/onspring_client.h"
#include "clients/servicenow/auth.h"
#include "clients/servicenow/encoded_query.h"
#include "clients/servicenow/table_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/sandbox/sandbox.h"
#include "tests/support/http_test_client.h"

namespace onsync::clients {
namespace {

using ::onsync::sandbox::FakeKind;
using ::onsync::sandbox::FaultConfig;
using ::testing::HasSubstr;

constexpr int kUsersApp = 100;
constexpr int kFullNameField = 1005;
constexpr int kFirstNameField = 1001;
constexpr int kLastNameField = 1002;
constexpr int kUsernameField = 1003;

// Runs an async client call and waits for its result.
// A fault that fails the next `fail_next` requests (-1: all) with `status`.
FaultConfig Failing(int64_t fail_next, int status, int64_t retry_after_s = 0,
                    std::string body = "json") {
  FaultConfig faults;
  faults.fail_next = fail_next;
  faults.fail_status = status;
  faults.retry_after_s = retry_after_s;
  faults.fail_body = std::move(body);
  return faults;
}

template <typename T>
absl::StatusOr<T> Await(
    const std::function<void(absl::AnyInvocable<void(absl::StatusOr<T>) &&>)>& call) {
  absl::Notification done;
  absl::StatusOr<T> result = absl::UnknownError("no result");
  call([&](absl::StatusOr<T> value) {
    result = std::move(value);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

class ClientsSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sandbox = sandbox::Sandbox::Start({});
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = *std::move(sandbox);
    auto curl = CurlTransport::Create();
    ASSERT_TRUE(curl.ok()) << curl.status();
    curl_ = *std::move(curl);
    RetryOptions retry;
    retry.max_attempts = 3;
    retry.initial_backoff = absl::Milliseconds(10);
    retry.max_backoff = absl::Milliseconds(50);
    retrying_ = std::make_unique<RetryingTransport>(*curl_, *curl_, RealClock(), retry);
    basic_ = std::make_unique<servicenow::BasicAuthenticator>("admin", "sandbox");
    auto table =
        servicenow::TableClient::Create(*retrying_, *curl_, *basic_, sandbox_->servicenow_url());
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = *std::move(table);
    auto onspring = onspring::OnspringClient::Create(
        *retrying_, *curl_, {.base_url = sandbox_->onspring_url(), .api_key = "sandbox-key"});
    ASSERT_TRUE(onspring.ok()) << onspring.status();
    onspring_ = *std::move(onspring);
  }

  void TearDown() override {
    curl_->Shutdown();
    sandbox_->Shutdown();
  }

  int64_t Calls(FakeKind fake) const {
    const auto counts = sandbox_->request_log().Counts(fake);
    return std::accumulate(counts.begin(), counts.end(), int64_t{0},
                           [](int64_t sum, const auto& entry) { return sum + entry.second; });
  }

  void SetFaults(FakeKind fake, FaultConfig faults) { sandbox_->SetFaults(fake, faults); }

  absl::StatusOr<std::optional<servicenow::Row>> LookupApp(
      const std::string& name, absl::Duration timeout = absl::Seconds(10)) {
    servicenow::LookupRequest request{.table = "cmdb_ci_business_app",
                                      .key_field = "name",
                                      .value = name,
                                      .fields = {"name", "number", "it_application_owner.name"},
                                      .call = absl::Now() + timeout};
    return Await<std::optional<servicenow::Row>>(
        [&](auto done) { table_->LookupByKey(request, std::move(done)); });
  }

  absl::StatusOr<std::vector<onspring::Record>> QueryUsers(const std::string& filter) {
    return Await<std::vector<onspring::Record>>([&](auto done) {
      onspring_->QueryRecords(kUsersApp, filter, {kFullNameField}, absl::Now() + absl::Seconds(10),
                              std::move(done));
    });
  }

  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::unique_ptr<CurlTransport> curl_;
  std::unique_ptr<RetryingTransport> retrying_;
  std::unique_ptr<servicenow::BasicAuthenticator> basic_;
  std::unique_ptr<servicenow::TableClient> table_;
  std::unique_ptr<onspring::OnspringClient> onspring_;
};

TEST_F(ClientsSandboxTest, LookupFindsEveryApplicationByItsExactNameWithDotWalkedOwner) {
  for (const std::string name : {"Payroll", "O'Brien Ledger", "Pay^Roll", "Zoë ✓ Portal"}) {
    const auto row = LookupApp(name);
    ASSERT_TRUE(row.ok()) << name << ": " << row.status();
    ASSERT_TRUE(row->has_value()) << name;
    EXPECT_EQ((*row)->Value("name").value_or(""), name);
    EXPECT_NE((*row)->Find("it_application_owner.name"), nullptr) << name;
  }
}

TEST_F(ClientsSandboxTest, HostileValuesNeverWidenTheQuery) {
  for (const std::string value :
       {"a^ORb=c", "x^NQname=y", "Payroll^ORname=Legacy CRM", "Payroll^NQname!=x", "payroll"}) {
    const auto row = LookupApp(value);
    ASSERT_TRUE(row.ok()) << value << ": " << row.status();
    EXPECT_FALSE(row->has_value()) << value << " matched " << (*row)->Value("name").value_or("");
  }
}

// Values an attacker could put in an event or a ServiceNow record (issue 6, injection).
std::vector<std::string> HostileValues() {
  return {"O'Brien",
          "a'b''c",
          "\"quoted\"",
          "x^y",
          "^",
          "^^",
          "a^ORb=c",
          "x^NQname=y",
          "Payroll^ORname=Legacy CRM",
          "Payroll^NQname!=x",
          "=Payroll",
          "name=Payroll",
          "Payroll=",
          "ORDERBYname",
          "'; or 1 eq 1",
          "' or '1' eq '1",
          "Payroll' or name eq 'x",
          "%27%20or%201%20eq%201",
          "a&sysparm_query=name=Payroll",
          "a#b?c",
          "back\\slash",
          "tab\there",
          "Zoë ✓ Portal 2",
          "PAYROLL",
          std::string(10'000, 'L') + "'^OR"};
}

// Every hostile value, stored as a record's key, is found by exactly that record; the seed's
// records (Payroll, Fred Jones, ...) are never returned.
TEST_F(ClientsSandboxTest, EveryHostileValueMatchesOnlyItsOwnRecord) {
  const std::string basic = "Basic YWRtaW46c2FuZGJveA==";
  for (const std::string& value : HostileValues()) {
    SCOPED_TRACE(value.substr(0, 60));
    // ServiceNow: a business application named `value`, created through the Table API.
    rapidjson::StringBuffer json;
    rapidjson::Writer<rapidjson::StringBuffer> writer(json);
    writer.StartObject();
    writer.Key("name");
    writer.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
    writer.EndObject();
    auto created = ::onsync::testing::HttpRequest(
        "127.0.0.1", sandbox_->servicenow_port(), "POST", "/api/now/table/cmdb_ci_business_app",
        json.GetString(), {{"Authorization", basic}, {"Content-Type", "application/json"}});
    ASSERT_TRUE(created.ok()) << created.status();
    ASSERT_EQ(created->status, 201) << created->body;
    const auto row = LookupApp(value);
    ASSERT_TRUE(row.ok()) << row.status();
    ASSERT_TRUE(row->has_value());
    EXPECT_EQ((*row)->Value("name").value_or(""), value);

    // Onspring: a user whose username is `value`, found by an equality filter on it.
    const auto saved = Await<onspring::SaveResult>([&](auto done) {
      onspring_->SaveRecord(kUsersApp, 0, {{kUsernameField, onspring::FieldValue::String(value)}},
                            absl::Now() + absl::Seconds(10), std::move(done));
    });
    ASSERT_TRUE(saved.ok()) << saved.status();
    const absl::StatusOr<std::string> filter =
        onspring::Filter::Eq(kUsernameField, onspring::Literal::String(value)).Build();
    ASSERT_TRUE(filter.ok()) << filter.status();
    const auto users = Await<std::vector<onspring::Record>>([&](auto done) {
      onspring_->QueryRecords(kUsersApp, *filter, {kUsernameField}, absl::Now() + absl::Seconds(10),
                              std::move(done));
    });
    ASSERT_TRUE(users.ok()) << users.status();
    ASSERT_EQ(users->size(), 1u);
    EXPECT_EQ(users->front().record_id, saved->id);
    EXPECT_EQ(users->front().fields.at(kUsernameField), onspring::FieldValue::String(value));
  }
}

// Values that cannot be expressed safely are refused before anything is sent: nothing is
// evaluated, and nothing reaches the upstream.
TEST_F(ClientsSandboxTest, UnsafeValuesAreRefusedBeforeAnythingIsSent) {
  const int64_t servicenow_before = Calls(FakeKind::kServiceNow);
  for (const std::string& value :
       {std::string("javascript:gs.log(1)"), std::string("JavaScript:gs.log(1)"),
        std::string("line1\nline2"), std::string("cr\rhere"), std::string("nul\0x", 5)}) {
    SCOPED_TRACE(value);
    EXPECT_EQ(LookupApp(value).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(Calls(FakeKind::kServiceNow), servicenow_before);
  EXPECT_EQ(onspring::Filter::Eq(kUsernameField, onspring::Literal::String(std::string("a\0b", 3)))
                .Build()
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ClientsSandboxTest, JavascriptValuesAreRejectedBeforeAnythingIsSent) {
  const int64_t before = Calls(FakeKind::kServiceNow);
  const auto row = LookupApp("javascript:gs.log(1)");
  EXPECT_EQ(row.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Calls(FakeKind::kServiceNow), before);
}

TEST_F(ClientsSandboxTest, WrongCredentialsAreUnauthenticated) {
  servicenow::BasicAuthenticator wrong("admin", "not-the-password");
  auto table =
      servicenow::TableClient::Create(*retrying_, *curl_, wrong, sandbox_->servicenow_url());
  ASSERT_TRUE(table.ok());
  const auto page = Await<servicenow::TablePage>([&](auto done) {
    (*table)->List({.table = "sys_user", .call = absl::Now() + absl::Seconds(10)}, std::move(done));
  });
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnauthenticated) << page.status();

  auto onspring = onspring::OnspringClient::Create(
      *retrying_, *curl_, {.base_url = sandbox_->onspring_url(), .api_key = "wrong-key"});
  ASSERT_TRUE(onspring.ok());
  const auto records = Await<std::vector<onspring::Record>>([&](auto done) {
    (*onspring)->QueryRecords(kUsersApp, "", {}, absl::Now() + absl::Seconds(10), std::move(done));
  });
  EXPECT_EQ(records.status().code(), absl::StatusCode::kUnauthenticated) << records.status();
}

TEST_F(ClientsSandboxTest, UnknownRecordsAreNotFound) {
  const auto row = Await<servicenow::Row>([&](auto done) {
    table_->Get({.table = "sys_user",
                 .sys_id = "00000000000000000000000000000000",
                 .call = absl::Now() + absl::Seconds(10)},
                std::move(done));
  });
  EXPECT_EQ(row.status().code(), absl::StatusCode::kNotFound) << row.status();
  const auto record = Await<onspring::Record>([&](auto done) {
    onspring_->GetRecord(kUsersApp, 987654, {}, absl::Now() + absl::Seconds(10), std::move(done));
  });
  EXPECT_EQ(record.status().code(), absl::StatusCode::kNotFound) << record.status();
}

TEST_F(ClientsSandboxTest, TooManyRequestsIsRetriedAfterRetryAfter) {
  SetFaults(FakeKind::kServiceNow, Failing(1, 429, /*retry_after_s=*/1));
  const absl::Time start = absl::Now();
  const auto row = LookupApp("Payroll");
  const absl::Duration waited = absl::Now() - start;
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_TRUE(row->has_value());
  EXPECT_GE(waited, absl::Seconds(1));
  EXPECT_EQ(Calls(FakeKind::kServiceNow), 2);
}

TEST_F(ClientsSandboxTest, UnavailableThenSuccessIsRetriedTransparently) {
  SetFaults(FakeKind::kOnspring, Failing(1, 503));
  const auto users =
      QueryUsers(onspring::Filter::Eq(kFullNameField, onspring::Literal::String("Fred Jones"))
                     .Build()
                     .value());
  ASSERT_TRUE(users.ok()) << users.status();
  EXPECT_EQ(Calls(FakeKind::kOnspring), 2);
}

TEST_F(ClientsSandboxTest, RetryCapReachedReturnsUnavailable) {
  SetFaults(FakeKind::kServiceNow, Failing(-1, 503));
  const auto row = LookupApp("Payroll");
  EXPECT_EQ(row.status().code(), absl::StatusCode::kUnavailable) << row.status();
  EXPECT_EQ(Calls(FakeKind::kServiceNow), 3);
}

TEST_F(ClientsSandboxTest, SlowUpstreamHitsTheDeadline) {
  FaultConfig slow;
  slow.latency = absl::Seconds(3);
  SetFaults(FakeKind::kServiceNow, slow);
  const absl::Time start = absl::Now();
  const auto row = LookupApp("Payroll", absl::Milliseconds(300));
  EXPECT_EQ(row.status().code(), absl::StatusCode::kDeadlineExceeded) << row.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST_F(ClientsSandboxTest, HtmlErrorPagesBecomeReadableStatuses) {
  SetFaults(FakeKind::kOnspring, Failing(1, 403, 0, "html"));
  const auto users = QueryUsers("");
  EXPECT_EQ(users.status().code(), absl::StatusCode::kPermissionDenied) << users.status();
  EXPECT_THAT(std::string(users.status().message()), HasSubstr("403"));
  EXPECT_THAT(std::string(users.status().message()), ::testing::Not(HasSubstr("<html")));
  EXPECT_EQ(Calls(FakeKind::kOnspring), 1);  // 403 is never retried
}

TEST_F(ClientsSandboxTest, ListAllFollowsManyShortPages) {
  const auto rows = Await<std::vector<servicenow::Row>>([&](auto done) {
    table_->ListAll({.table = "sys_user",
                     .fields = {"user_name", "name"},
                     .limit = 2,
                     .call = absl::Now() + absl::Seconds(10)},
                    std::move(done));
  });
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 8u);
  EXPECT_GE(Calls(FakeKind::kServiceNow), 4);
}

TEST_F(ClientsSandboxTest, OnspringQueriesMatchExactlyAndCreatedUsersAreFoundByFullName) {
  const auto zoe =
      QueryUsers(onspring::Filter::Eq(kFullNameField, onspring::Literal::String("Zoë Müller"))
                     .Build()
                     .value());
  ASSERT_TRUE(zoe.ok()) << zoe.status();
  EXPECT_EQ(zoe->size(), 1u);
  const auto injection = QueryUsers(
      onspring::Filter::Eq(kFullNameField, onspring::Literal::String("x' or 1 eq 1 or 'x"))
          .Build()
          .value());
  ASSERT_TRUE(injection.ok()) << injection.status();
  EXPECT_TRUE(injection->empty());

  const auto saved = Await<onspring::SaveResult>([&](auto done) {
    onspring_->SaveRecord(kUsersApp, 0,
                          {{kFirstNameField, onspring::FieldValue::String("Zoë")},
                           {kLastNameField, onspring::FieldValue::String("van der Berg")}},
                          absl::Now() + absl::Seconds(10), std::move(done));
  });
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_TRUE(saved->created);
  const auto found =
      QueryUsers(onspring::Filter::Eq(kFullNameField, onspring::Literal::String("Zoë van der Berg"))
                     .Build()
                     .value());
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ(found->front().record_id, saved->id);
}

TEST_F(ClientsSandboxTest, OAuthTokensAreFetchedOnceAndRenewedAfterA401) {
  for (const auto grant : {servicenow::OAuthOptions::Grant::kClientCredentials,
                           servicenow::OAuthOptions::Grant::kPassword}) {
    servicenow::OAuthOptions options;
    options.instance_url = sandbox_->servicenow_url();
    options.grant = grant;
    options.client_id = "sandbox-client";
    options.client_secret = "sandbox-secret";
    options.username = "admin";
    options.password = "sandbox";
    auto oauth = servicenow::OAuthAuthenticator::Create(*retrying_, RealClock(), options);
    ASSERT_TRUE(oauth.ok()) << oauth.status();
    auto table =
        servicenow::TableClient::Create(*retrying_, *curl_, **oauth, sandbox_->servicenow_url());
    ASSERT_TRUE(table.ok());
    const auto list = [&] {
      return Await<servicenow::TablePage>([&](auto done) {
        (*table)->List({.table = "sys_user", .call = absl::Now() + absl::Seconds(10)},
                       std::move(done));
      });
    };
    ASSERT_TRUE(list().ok());
    ASSERT_TRUE(list().ok());
    EXPECT_EQ(sandbox_->CallCount(FakeKind::kServiceNow, "POST /oauth_token.do"), 1);

    // The instance forgets its tokens: the next call gets a 401, fetches a new token and retries.
    sandbox_->servicenow().ExpireAccessTokens();
    const auto after = list();
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(sandbox_->CallCount(FakeKind::kServiceNow, "POST /oauth_token.do"), 2);
    ASSERT_TRUE(sandbox_->Reset().ok());
  }

  servicenow::OAuthOptions wrong;
  wrong.instance_url = sandbox_->servicenow_url();
  wrong.client_id = "sandbox-client";
  wrong.client_secret = "not-the-secret";
  auto oauth = servicenow::OAuthAuthenticator::Create(*retrying_, RealClock(), wrong);
  ASSERT_TRUE(oauth.ok());
  auto table =
      servicenow::TableClient::Create(*retrying_, *curl_, **oauth, sandbox_->servicenow_url());
  ASSERT_TRUE(table.ok());
  const auto page = Await<servicenow::TablePage>([&](auto done) {
    (*table)->List({.table = "sys_user", .call = absl::Now() + absl::Seconds(10)}, std::move(done));
  });
  EXPECT_EQ(page.status().code(), absl::StatusCode::kUnauthenticated) << page.status();
  EXPECT_THAT(std::string(page.status().message()), ::testing::Not(HasSubstr("not-the-secret")));
}

}  // namespace
}  // namespace onsync::clients
