#include "clients/servicenow/auth.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/http/redact.h"
#include "clients/servicenow/table_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "onsync/v1/config.pb.h"
#include "tests/clients/fake_transport.h"

namespace onsync::clients::servicenow {
namespace {

using ::onsync::clients::testing::Capture;
using ::onsync::clients::testing::FakeClock;
using ::onsync::clients::testing::FakeTransport;
using ::onsync::clients::testing::MakeResponse;
using ::onsync::clients::testing::RequestHeader;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTokenUrl[] = "https://acme.service-now.com/oauth_token.do";

bool IsToken(const HttpRequest& r) { return r.url == kTokenUrl; }

// A fake ServiceNow: the token endpoint hands out tok1, tok2, … (each with a refresh token
// r1, r2, …); table reads answer 200, or 401 to the tokens listed in `refused`.
class FakeServiceNow {
 public:
  explicit FakeServiceNow(FakeTransport& transport, int expires_in = 1800) {
    transport.SetHandler([this, expires_in](const HttpRequest& r) -> absl::StatusOr<HttpResponse> {
      absl::MutexLock lock(&mu_);
      if (IsToken(r)) {
        ++tokens_;
        return MakeResponse(
            200, absl::StrCat(R"({"access_token":"tok)", tokens_, R"(","refresh_token":"r)",
                              tokens_, R"(","scope":"useraccount","token_type":"Bearer",)",
                              R"("expires_in":)", expires_in, "}"));
      }
      const std::string auth = RequestHeader(r, "Authorization").value_or("");
      for (const std::string& refused : refused_) {
        if (auth == "Bearer " + refused) {
          return MakeResponse(401, R"({"error":{"message":"User Not Authenticated"}})");
        }
      }
      return MakeResponse(200, R"({"result":[{"name":"ok"}]})");
    });
  }
  void Refuse(std::string token) {
    absl::MutexLock lock(&mu_);
    refused_.push_back(std::move(token));
  }

 private:
  absl::Mutex mu_;
  int tokens_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> refused_ ABSL_GUARDED_BY(mu_);
};

class OAuthTest : public ::testing::Test {
 protected:
  std::unique_ptr<OAuthAuthenticator> MakeOAuth(OAuthOptions options) {
    absl::StatusOr<std::unique_ptr<OAuthAuthenticator>> auth =
        OAuthAuthenticator::Create(transport_, clock_, std::move(options));
    EXPECT_TRUE(auth.ok()) << auth.status();
    return auth.ok() ? *std::move(auth) : nullptr;
  }
  static OAuthOptions ClientCredentials() {
    OAuthOptions o;
    o.instance_url = "https://acme.service-now.com";
    o.grant = OAuthOptions::Grant::kClientCredentials;
    o.client_id = "cid";
    o.client_secret = "client-secret-value";
    return o;
  }
  absl::StatusOr<std::string> Authorize(Authenticator& auth) {
    Capture<absl::StatusOr<std::string>> result;
    auth.Authorize(absl::InfiniteFuture(), result.Callback());
    return result.Wait();
  }
  std::vector<HttpRequest> TokenRequests() {
    std::vector<HttpRequest> out;
    for (HttpRequest& r : transport_.requests()) {
      if (IsToken(r)) out.push_back(std::move(r));
    }
    return out;
  }

  FakeTransport transport_;
  FakeClock clock_;
};

TEST_F(OAuthTest, ClientCredentialsRequestIsFormEncoded) {
  FakeServiceNow sn(transport_);
  auto auth = MakeOAuth(ClientCredentials());
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer tok1");
  const std::vector<HttpRequest> sent = TokenRequests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].body,
            "grant_type=client_credentials&client_id=cid&client_secret=client-secret-value");
  EXPECT_EQ(RequestHeader(sent[0], "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(RequestHeader(sent[0], "Authorization"), std::nullopt);
  EXPECT_EQ(Redactor::Global().Redact("client-secret-value"), "[REDACTED]");
}

TEST_F(OAuthTest, PasswordGrantEncodesEveryValue) {
  FakeServiceNow sn(transport_);
  OAuthOptions o = ClientCredentials();
  o.grant = OAuthOptions::Grant::kPassword;
  o.username = "svc user";
  o.password = "p&ss=w+rd";
  auto auth = MakeOAuth(o);
  ASSERT_TRUE(Authorize(*auth).ok());
  EXPECT_EQ(TokenRequests().at(0).body,
            "grant_type=password&client_id=cid&client_secret=client-secret-value"
            "&username=svc%20user&password=p%26ss%3Dw%2Brd");
}

TEST_F(OAuthTest, CreateValidatesOptions) {
  OAuthOptions o = ClientCredentials();
  o.client_secret = "";
  EXPECT_EQ(OAuthAuthenticator::Create(transport_, clock_, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = ClientCredentials();
  o.grant = OAuthOptions::Grant::kPassword;
  EXPECT_EQ(OAuthAuthenticator::Create(transport_, clock_, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = ClientCredentials();
  o.instance_url = "https://acme.service-now.com/path";
  EXPECT_EQ(OAuthAuthenticator::Create(transport_, clock_, o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OAuthTest, ConcurrentCallersShareOneTokenRequest) {
  FakeServiceNow sn(transport_);
  auto auth = MakeOAuth(ClientCredentials());
  absl::StatusOr<std::unique_ptr<TableClient>> client =
      TableClient::Create(transport_, transport_, *auth, "https://acme.service-now.com");
  ASSERT_TRUE(client.ok());
  transport_.Hold();
  constexpr int kCalls = 8;
  std::vector<std::unique_ptr<Capture<absl::StatusOr<TablePage>>>> results;
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    results.push_back(std::make_unique<Capture<absl::StatusOr<TablePage>>>());
  }
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back(
        [&, i] { (*client)->List({.table = "incident"}, results[i]->Callback()); });
  }
  for (std::thread& t : threads) t.join();
  // Everyone is waiting on the one token request, which is not answered yet.
  EXPECT_EQ(transport_.request_count(), 1u);
  transport_.Release();
  for (auto& r : results) EXPECT_TRUE(r->Wait().ok()) << r->Wait().status();
  EXPECT_EQ(TokenRequests().size(), 1u);
  const std::vector<HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 1u + kCalls);
  for (const HttpRequest& r : sent) {
    if (!IsToken(r)) {
      EXPECT_EQ(RequestHeader(r, "Authorization"), "Bearer tok1");
    }
  }
}

TEST_F(OAuthTest, RefreshesSixtySecondsBeforeExpiryWithTheRefreshToken) {
  FakeServiceNow sn(transport_, /*expires_in=*/1800);
  auto auth = MakeOAuth(ClientCredentials());
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer tok1");
  clock_.Advance(absl::Seconds(1739));  // 61 s before expiry: still good
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer tok1");
  EXPECT_EQ(TokenRequests().size(), 1u);
  clock_.Advance(absl::Seconds(2));  // 59 s before expiry: refresh
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer tok2");
  const std::vector<HttpRequest> sent = TokenRequests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].body,
            "grant_type=refresh_token&client_id=cid&client_secret=client-secret-value"
            "&refresh_token=r1");
}

TEST_F(OAuthTest, RefusedRefreshFallsBackToTheConfiguredGrant) {
  int calls = 0;
  transport_.SetHandler([&calls](const HttpRequest& r) {
    ++calls;
    if (absl::StrContains(r.body, "grant_type=refresh_token")) {
      return MakeResponse(401, R"({"error":"invalid_grant","error_description":"expired"})");
    }
    return MakeResponse(200, absl::StrCat(R"({"access_token":"token-)", calls,
                                          R"(","refresh_token":"refresh-1","expires_in":100})"));
  });
  auto auth = MakeOAuth(ClientCredentials());
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer token-1");
  clock_.Advance(absl::Seconds(100));
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer token-3");
  const std::vector<HttpRequest> sent = TokenRequests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_THAT(sent[1].body, HasSubstr("grant_type=refresh_token"));
  EXPECT_THAT(sent[2].body, HasSubstr("grant_type=client_credentials"));
}

TEST_F(OAuthTest, A401InvalidatesTheTokenAndRetriesOnce) {
  FakeServiceNow sn(transport_);
  sn.Refuse("tok1");
  auto auth = MakeOAuth(ClientCredentials());
  absl::StatusOr<std::unique_ptr<TableClient>> client =
      TableClient::Create(transport_, transport_, *auth, "https://acme.service-now.com");
  ASSERT_TRUE(client.ok());
  Capture<absl::StatusOr<TablePage>> result;
  (*client)->List({.table = "incident"}, result.Callback());
  ASSERT_TRUE(result.Wait().ok()) << result.Wait().status();
  std::vector<std::string> auths;
  for (const HttpRequest& r : transport_.requests()) {
    auths.push_back(IsToken(r) ? "token" : RequestHeader(r, "Authorization").value_or(""));
  }
  EXPECT_THAT(auths, ::testing::ElementsAre("token", "Bearer tok1", "token", "Bearer tok2"));

  // Refused again after the retry: the 401 comes back, no third attempt.
  sn.Refuse("tok2");
  sn.Refuse("tok3");
  Capture<absl::StatusOr<TablePage>> again;
  (*client)->List({.table = "incident"}, again.Callback());
  EXPECT_EQ(again.Wait().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(transport_.request_count(), 4u + 3u);  // tok2 refused, token, tok3 refused
}

TEST_F(OAuthTest, TokenEndpointErrorsAreUnauthenticatedWithoutTheSecret) {
  transport_.Enqueue(401, R"({"error":"invalid_client","error_description":"access_denied"})");
  auto auth = MakeOAuth(ClientCredentials());
  absl::StatusOr<std::string> header = Authorize(*auth);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(header.status().message(), HasSubstr("invalid_client: access_denied"));
  EXPECT_THAT(header.status().message(), Not(HasSubstr("client-secret-value")));

  transport_.Enqueue(400, "<html><body>Bad Request</body></html>");
  header = Authorize(*auth);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(header.status().message(), HasSubstr("Bad Request"));

  transport_.Enqueue(503, "");
  header = Authorize(*auth);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnavailable);

  transport_.Enqueue(200, R"({"token_type":"Bearer"})");
  header = Authorize(*auth);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnavailable);

  transport_.Enqueue(absl::UnavailableError("connection refused"));
  header = Authorize(*auth);
  EXPECT_EQ(header.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(header.status().message(), HasSubstr("connection refused"));

  // A failed fetch is not cached: the next caller tries again.
  FakeServiceNow sn(transport_);
  EXPECT_EQ(Authorize(*auth).value_or(""), "Bearer tok1");
}

TEST(BasicAuthenticatorTest, HeaderValues) {
  BasicAuthenticator basic("svc", "basic-pass");
  Capture<absl::StatusOr<std::string>> result;
  basic.Authorize(absl::InfiniteFuture(), result.Callback());
  EXPECT_EQ(result.Wait().value_or(""), "Basic c3ZjOmJhc2ljLXBhc3M=");
  EXPECT_FALSE(basic.CanRefresh());
  EXPECT_EQ(Redactor::Global().Redact("c3ZjOmJhc2ljLXBhc3M="), "[REDACTED]");

  std::unique_ptr<BasicAuthenticator> forwarded =
      BasicAuthenticator::FromHeaderValue("Basic Zm9yd2FyZGVk");
  Capture<absl::StatusOr<std::string>> fwd;
  forwarded->Authorize(absl::InfiniteFuture(), fwd.Callback());
  EXPECT_EQ(fwd.Wait().value_or(""), "Basic Zm9yd2FyZGVk");
}

TEST(MakeAuthenticatorTest, FromConfig) {
  FakeTransport transport;
  FakeClock clock;
  onsync::v1::ServiceNowConnection connection;
  connection.set_instance_url("https://acme.service-now.com");
  EXPECT_EQ(MakeAuthenticator(connection, "", "", transport, clock).status().code(),
            absl::StatusCode::kInvalidArgument);

  connection.mutable_auth()->mutable_basic()->set_username("svc");
  absl::StatusOr<std::unique_ptr<Authenticator>> auth =
      MakeAuthenticator(connection, "pw-1234", "", transport, clock);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_FALSE((*auth)->CanRefresh());
  EXPECT_EQ(MakeAuthenticator(connection, "", "", transport, clock).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto* oauth = connection.mutable_auth()->mutable_oauth();
  oauth->set_client_id("cid");
  EXPECT_EQ(MakeAuthenticator(connection, "", "secret-1", transport, clock).status().code(),
            absl::StatusCode::kInvalidArgument);  // no grant type
  oauth->set_grant_type(onsync::v1::ServiceNowOAuth::GRANT_TYPE_CLIENT_CREDENTIALS);
  auth = MakeAuthenticator(connection, "", "secret-1", transport, clock);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->CanRefresh());
}

}  // namespace
}  // namespace onsync::clients::servicenow
