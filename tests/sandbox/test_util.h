// Helpers shared by the sandbox's tests: start a sandbox, send requests to its fakes over real
// HTTP with the raw test client, and read JSON bodies.
//
// Thread safety: free functions; each call uses its own connection.
#ifndef ONSYNC_TESTS_SANDBOX_TEST_UTIL_H_
#define ONSYNC_TESTS_SANDBOX_TEST_UTIL_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/string_view.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/sandbox/json_util.h"
#include "tests/sandbox/sandbox.h"
#include "tests/sandbox/url.h"
#include "tests/support/http_test_client.h"

namespace onsync::sandbox::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline std::unique_ptr<Sandbox> StartSandbox(SandboxOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox = Sandbox::Start(std::move(options));
  EXPECT_TRUE(sandbox.ok()) << sandbox.status();
  return sandbox.ok() ? *std::move(sandbox) : nullptr;
}

// One request; a transport failure fails the test and returns status 0.
inline onsync::testing::HttpResult Call(int port, std::string_view method, std::string_view target,
                                        std::string_view body = "", Headers headers = {}) {
  absl::StatusOr<onsync::testing::HttpResult> result =
      onsync::testing::HttpRequest("127.0.0.1", port, method, target, body, std::move(headers));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : onsync::testing::HttpResult{};
}

inline std::pair<std::string, std::string> BasicAuth(std::string_view user,
                                                     std::string_view password) {
  return {"Authorization",
          absl::StrCat("Basic ", Base64Encode(absl::StrCat(ToAbsl(user), ":", ToAbsl(password))))};
}

inline Headers AdminBasic() { return {BasicAuth("admin", "sandbox")}; }
inline Headers OnspringKey() { return {{"X-ApiKey", "sandbox-key"}}; }
inline Headers OnspringJson() {
  return {{"X-ApiKey", "sandbox-key"}, {"Content-Type", "application/json"}};
}

// A JSON string value as std::string.
inline std::string Str(const rapidjson::Value& value) {
  return value.IsString() ? std::string(View(value)) : std::string();
}

// Parses a body; an invalid body fails the test and yields a null document.
inline rapidjson::Document Json(std::string_view body) {
  absl::StatusOr<rapidjson::Document> document = ParseJson(body);
  EXPECT_TRUE(document.ok()) << document.status() << " in: " << body;
  if (!document.ok()) return rapidjson::Document();
  return *std::move(document);
}

// The value of field `field_id` in an Onspring record object, or nullptr.
inline const rapidjson::Value* FieldValue(const rapidjson::Value& record, int64_t field_id) {
  const rapidjson::Value* data = FindMember(record, "fieldData");
  if (data == nullptr || !data->IsArray()) return nullptr;
  for (const rapidjson::Value& item : data->GetArray()) {
    if (item["fieldId"].GetInt64() == field_id) return &item["value"];
  }
  return nullptr;
}

// The default seed's ids (tests/sandbox/seed/default.json).
namespace seed {
inline constexpr char kActive[] = "6f0caae9-2f2d-5073-8d41-592671697963";
inline constexpr char kTier2[] = "7e598354-8513-5a53-a79f-e7700d20b0ed";
inline constexpr char kTier3[] = "9e34f1a4-7bbb-5b84-af5b-0b954f359412";
inline constexpr char kSyncYes[] = "3c71373c-969d-51c7-9722-d93be55563ee";
inline constexpr char kSyncNo[] = "0c5062ad-4e0b-5836-83af-7834d0bf2229";
inline constexpr char kOnPremise[] = "bed65a51-c9b2-5606-ad76-874966e28b12";
inline constexpr char kCloud[] = "5bf433f9-1af5-59d4-867c-f1655f0cde2e";
inline constexpr char kSaaS[] = "a20ff618-3519-556b-8db1-0f1e6d5de40e";
inline constexpr char kNotApplicable[] = "1dbfd98d-3f5d-523f-a4f4-4501a626c98c";
inline constexpr char kFredSysId[] = "92ffec65d8c8615c31646694cfd3a636";
inline constexpr char kBethSysId[] = "c45e94b0da2ff4fb995a8abeeef90a18";
inline constexpr char kPayrollSysId[] = "aa170434d750cb85da18299696872cac";
inline constexpr char kCustomerPortalSysId[] = "39a6a65b0e7cb3d0efd846de61ad88cd";
inline constexpr int kBusinessApps = 7;  // cmdb_ci_business_app rows = app 300 records
}  // namespace seed

}  // namespace onsync::sandbox::testing

#endif  // ONSYNC_TESTS_SANDBOX_TEST_UTIL_H_
