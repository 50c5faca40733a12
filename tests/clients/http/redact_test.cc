#include "clients/http/redact.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace onsync::clients {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RedactorTest, MasksRegisteredSecretsAnywhere) {
  Redactor redactor;
  redactor.AddSecret("hunter2-password");
  redactor.AddSecret("0123456789abcdef");
  EXPECT_EQ(redactor.Redact("login with hunter2-password failed; key=0123456789abcdef!"),
            "login with [REDACTED] failed; key=[REDACTED]!");
  EXPECT_EQ(redactor.Redact("twice: hunter2-passwordhunter2-password"),
            "twice: [REDACTED][REDACTED]");
  EXPECT_EQ(redactor.secret_count(), 2u);
}

TEST(RedactorTest, IgnoresEmptyShortAndDuplicateSecrets) {
  Redactor redactor;
  redactor.AddSecret("");
  redactor.AddSecret("abc");
  redactor.AddSecret("abcd");
  redactor.AddSecret("abcd");
  EXPECT_EQ(redactor.secret_count(), 1u);
  EXPECT_EQ(redactor.Redact("abc abcd"), "abc [REDACTED]");
}

TEST(RedactorTest, LongerSecretsWin) {
  Redactor redactor;
  redactor.AddSecret("secret");
  redactor.AddSecret("secret-and-more");
  EXPECT_EQ(redactor.Redact("x secret-and-more y secret"), "x [REDACTED] y [REDACTED]");
}

TEST(RedactorTest, MasksCredentialHeaders) {
  const Redactor redactor;
  EXPECT_EQ(redactor.Redact("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [REDACTED]");
  EXPECT_EQ(redactor.Redact("authorization: Bearer eyJhbGciOi.xyz.abc"),
            "authorization: Bearer [REDACTED]");
  EXPECT_EQ(redactor.Redact("Proxy-Authorization: Basic Zm9vOmJhcg=="),
            "Proxy-Authorization: Basic [REDACTED]");
  EXPECT_EQ(redactor.Redact("Authorization: sometoken"), "Authorization: [REDACTED]");
  EXPECT_EQ(redactor.Redact("X-ApiKey: 1234-abcd"), "X-ApiKey: [REDACTED]");
  EXPECT_EQ(redactor.Redact("x-api-key:abcd"), "x-api-key:[REDACTED]");
  EXPECT_EQ(redactor.Redact("Cookie: JSESSIONID=abc; glide_user=def"), "Cookie: [REDACTED]");
  EXPECT_EQ(redactor.Redact("Set-Cookie: JSESSIONID=abc; Path=/; HttpOnly"),
            "Set-Cookie: [REDACTED]");
}

TEST(RedactorTest, MasksHeadersLineByLine) {
  const Redactor redactor;
  EXPECT_EQ(redactor.Redact("GET / HTTP/1.1\r\nHost: x\r\nx-apikey: k1k2k3\r\nAccept: */*\r\n"),
            "GET / HTTP/1.1\r\nHost: x\r\nx-apikey: [REDACTED]\r\nAccept: */*\r\n");
}

TEST(RedactorTest, MasksJsonStyleHeaders) {
  const Redactor redactor;
  EXPECT_EQ(redactor.Redact(R"({"x-apikey": "abc123", "accept": "json"})"),
            R"({"x-apikey": "[REDACTED]", "accept": "json"})");
  EXPECT_EQ(redactor.Redact(R"({"Authorization":"Basic abc"})"),
            R"({"Authorization":"Basic [REDACTED]"})");
}

TEST(RedactorTest, LeavesOrdinaryTextAlone) {
  const Redactor redactor;
  for (const char* text :
       {"nothing to see here", "Authorization failed for user", "the cookie jar is empty",
        "https://acme.service-now.com/api/now/table/incident?sysparm_limit=2",
        "x-apikeys: not the header", "Content-Type: application/json"}) {
    EXPECT_EQ(redactor.Redact(text), text);
  }
}

TEST(RedactorTest, MasksUserinfoInUrls) {
  const Redactor redactor;
  EXPECT_EQ(redactor.Redact("GET https://svc:p%40ss@acme.service-now.com/api failed"),
            "GET https://[REDACTED]@acme.service-now.com/api failed");
  EXPECT_EQ(redactor.Redact("http://user@host:8080/x"), "http://[REDACTED]@host:8080/x");
  EXPECT_EQ(redactor.Redact("two: http://a:b@h1/ and https://c:d@h2"),
            "two: http://[REDACTED]@h1/ and https://[REDACTED]@h2");
  // An '@' after the authority is not userinfo.
  EXPECT_EQ(redactor.Redact("https://host/path/user@example.com"),
            "https://host/path/user@example.com");
}

TEST(RedactorTest, MasksSensitiveQueryParameters) {
  const Redactor redactor;
  EXPECT_EQ(redactor.Redact("https://h/cb?code=1&access_token=abc.def&x=2#frag"),
            "https://h/cb?code=1&access_token=[REDACTED]&x=2#frag");
  EXPECT_EQ(redactor.Redact("https://h/?Password=p&API_KEY=k&apikey=k2&token=t&refresh_token=r"
                            "&client_secret=s&sig=g&Signature=z"),
            "https://h/?Password=[REDACTED]&API_KEY=[REDACTED]&apikey=[REDACTED]&token=[REDACTED]"
            "&refresh_token=[REDACTED]&client_secret=[REDACTED]&sig=[REDACTED]"
            "&Signature=[REDACTED]");
  // Form bodies too.
  EXPECT_EQ(redactor.Redact("grant_type=password&username=svc&password=s3cr3t"),
            "grant_type=password&username=svc&password=[REDACTED]");
  // Names merely containing a sensitive word are kept.
  EXPECT_EQ(redactor.Redact("https://h/?tokenizer=x&mytoken=y"),
            "https://h/?tokenizer=x&mytoken=y");
}

TEST(RedactorTest, RedactsACurlErrorMessage) {
  const Redactor redactor;
  const std::string message =
      "POST https://svc:hunter2@acme.service-now.com/oauth_token.do?client_secret=abc: Couldn't "
      "connect to server (Failed to connect to acme.service-now.com port 443 after 3 ms: "
      "Connection refused) [curl code 7]";
  const std::string redacted = redactor.Redact(message);
  EXPECT_THAT(redacted, Not(HasSubstr("hunter2")));
  EXPECT_THAT(redacted, Not(HasSubstr("abc:")));
  EXPECT_THAT(redacted, HasSubstr("https://[REDACTED]@acme.service-now.com/oauth_token.do"));
  EXPECT_THAT(redacted, HasSubstr("Connection refused"));
}

TEST(RedactUrlTest, UsesTheGlobalSecrets) {
  Redactor::Global().AddSecret("global-secret-value");
  EXPECT_EQ(RedactUrl("https://u:p@h/x?q=global-secret-value&token=t&page=2"),
            "https://[REDACTED]@h/x?q=[REDACTED]&token=[REDACTED]&page=2");
  EXPECT_EQ(Redact("note: global-secret-value"), "note: [REDACTED]");
}

TEST(RedactHeaderTest, MasksCredentialHeadersByName) {
  EXPECT_EQ(RedactHeader("Authorization", "Basic dXNlcjpwYXNz"), "Basic [REDACTED]");
  EXPECT_EQ(RedactHeader("authorization", "opaque"), "[REDACTED]");
  EXPECT_EQ(RedactHeader("X-APIKEY", "k"), "[REDACTED]");
  EXPECT_EQ(RedactHeader("x-api-key", "k"), "[REDACTED]");
  EXPECT_EQ(RedactHeader("Cookie", "a=b"), "[REDACTED]");
  EXPECT_EQ(RedactHeader("set-cookie", "a=b"), "[REDACTED]");
  EXPECT_EQ(RedactHeader("Accept", "application/json"), "application/json");
  Redactor::Global().AddSecret("leaked-into-header");
  EXPECT_EQ(RedactHeader("X-Debug", "value leaked-into-header"), "value [REDACTED]");
}

TEST(RedactorTest, ConcurrentAddAndRedact) {
  Redactor redactor;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&redactor, t] {
      for (int i = 0; i < 200; ++i) {
        redactor.AddSecret("secret-" + std::to_string(t) + "-" + std::to_string(i));
        (void)redactor.Redact("text with secret-0-1 inside");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(redactor.secret_count(), 800u);
  EXPECT_EQ(redactor.Redact("secret-3-199"), "[REDACTED]");
}

}  // namespace
}  // namespace onsync::clients
