#include "gateway/auth/caller_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/string_view.h"
#include "server/config/durations.h"

namespace onsync::gateway {
namespace {

using Digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

constexpr absl::Duration kDefaultWebhookTolerance = absl::Minutes(5);
constexpr char kRealm[] = "realm=\"onsync\"";
constexpr std::string_view kWebhookSecretPrefix = "whsec_";

Digest Sha256(std::string_view text) {
  Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

bool DigestsEqual(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status Refused() { return absl::UnauthenticatedError("missing or invalid credentials"); }

// The credentials after `scheme` in an Authorization header value (scheme case-insensitive).
std::optional<std::string_view> Credentials(std::optional<std::string_view> header,
                                            std::string_view scheme) {
  if (!header.has_value() || header->size() <= scheme.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(header->substr(0, scheme.size())), ToAbsl(scheme)) ||
      (*header)[scheme.size()] != ' ') {
    return std::nullopt;
  }
  return ToStd(absl::StripAsciiWhitespace(ToAbsl(header->substr(scheme.size() + 1))));
}

}  // namespace

struct CallerAuth::Method {
  enum class Kind { kBasic, kApiKey, kBearer, kSignedWebhook };
  Kind kind;
  // Basic: digest of "username:password"; api_key: of the key; bearer: of the token.
  Digest expected{};
  // api_key: the header name, lower-cased.
  std::string header;
  // signed_webhook: the HMAC key and the tolerance.
  std::string webhook_key;
  absl::Duration tolerance = kDefaultWebhookTolerance;
};

absl::StatusOr<std::unique_ptr<CallerAuth>> CallerAuth::Create(
    const v1::Config& config, const config::SecretSource& secrets) {
  const auto make = [&secrets](const google::protobuf::RepeatedPtrField<v1::CallerAuth>& list,
                               const std::string& path) -> absl::StatusOr<Methods> {
    Methods methods;
    for (int i = 0; i < list.size(); ++i) {
      absl::StatusOr<Method> method = MakeMethod(list[i], absl::StrCat(path, "[", i, "]"), secrets);
      if (!method.ok()) return method.status();
      methods.push_back(*std::move(method));
    }
    return methods;
  };
  absl::StatusOr<Methods> global = make(config.gateway().auth(), "gateway.auth");
  if (!global.ok()) return global.status();
  std::map<std::string, Methods, std::less<>> by_profile;
  for (const auto& [name, profile] : config.profiles()) {
    if (profile.auth().empty()) continue;
    absl::StatusOr<Methods> methods =
        make(profile.auth(), absl::StrCat("profiles.", name, ".auth"));
    if (!methods.ok()) return methods.status();
    by_profile.emplace(name, *std::move(methods));
  }
  return std::unique_ptr<CallerAuth>(new CallerAuth(*std::move(global), std::move(by_profile)));
}

CallerAuth::CallerAuth(Methods global, std::map<std::string, Methods, std::less<>> by_profile)
    : global_(std::make_unique<const Methods>(std::move(global))),
      by_profile_(std::move(by_profile)) {}

CallerAuth::~CallerAuth() = default;

bool CallerAuth::open() const { return global_->empty() && by_profile_.empty(); }

const CallerAuth::Methods& CallerAuth::MethodsFor(std::string_view profile) const {
  if (!profile.empty()) {
    const auto found = by_profile_.find(profile);
    if (found != by_profile_.end()) return found->second;
  }
  return *global_;
}

absl::StatusOr<Admission> CallerAuth::Check(const http::Request& request, std::string_view profile,
                                            absl::Time now) {
  const Methods& methods = MethodsFor(profile);
  if (methods.empty()) return Admission{};
  const std::optional<std::string_view> authorization = request.Header("authorization");
  for (const Method& method : methods) {
    switch (method.kind) {
      case Method::Kind::kBasic: {
        const std::optional<std::string_view> token = Credentials(authorization, "Basic");
        std::string decoded;
        if (token.has_value() && absl::Base64Unescape(ToAbsl(*token), &decoded) &&
            DigestsEqual(Sha256(decoded), method.expected)) {
          return Admission{};
        }
        break;
      }
      case Method::Kind::kBearer: {
        const std::optional<std::string_view> token = Credentials(authorization, "Bearer");
        if (token.has_value() && DigestsEqual(Sha256(*token), method.expected)) return Admission{};
        break;
      }
      case Method::Kind::kApiKey: {
        const std::optional<std::string_view> key = request.Header(method.header);
        if (key.has_value() && DigestsEqual(Sha256(*key), method.expected)) return Admission{};
        break;
      }
      case Method::Kind::kSignedWebhook: {
        const std::optional<std::string_view> id = request.Header("webhook-id");
        const std::optional<std::string_view> timestamp = request.Header("webhook-timestamp");
        const std::optional<std::string_view> signatures = request.Header("webhook-signature");
        int64_t seconds = 0;
        if (!id.has_value() || id->empty() || !timestamp.has_value() || !signatures.has_value() ||
            !absl::SimpleAtoi(ToAbsl(*timestamp), &seconds)) {
          break;
        }
        const absl::Time sent = absl::FromUnixSeconds(seconds);
        if (sent < now - method.tolerance || sent > now + method.tolerance) break;
        const std::string expected =
            StandardWebhookSignature(method.webhook_key, *id, *timestamp, request.body);
        const Digest expected_digest = Sha256(expected);
        bool signed_ok = false;
        for (absl::string_view entry :
             absl::StrSplit(ToAbsl(*signatures), ' ', absl::SkipWhitespace())) {
          // Every entry is compared, so that the time does not tell which one matched.
          signed_ok = DigestsEqual(Sha256(ToStd(entry)), expected_digest) || signed_ok;
        }
        if (!signed_ok) break;
        std::string key = absl::StrCat(reinterpret_cast<uintptr_t>(&method), ":", ToAbsl(*id));
        absl::Status fresh = Remember(key, now, sent + method.tolerance);
        if (!fresh.ok()) return fresh;
        return Admission{.replay_key = std::move(key)};
      }
    }
  }
  return Refused();
}

absl::Status CallerAuth::Remember(std::string key, absl::Time now, absl::Time expiry) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto found = seen_webhooks_.find(key);
  if (found != seen_webhooks_.end() && found->second >= now) return Refused();
  if (found == seen_webhooks_.end() && seen_webhooks_.size() >= kMaxRememberedWebhookIds) {
    absl::erase_if(seen_webhooks_, [now](const auto& entry) { return entry.second < now; });
    if (seen_webhooks_.size() >= kMaxRememberedWebhookIds) {
      return absl::UnavailableError("too many signed deliveries in the replay window; retry later");
    }
  }
  seen_webhooks_[std::move(key)] = expiry;
  return absl::OkStatus();
}

void CallerAuth::Release(const Admission& admission) {
  if (admission.replay_key.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  seen_webhooks_.erase(admission.replay_key);
}

std::string CallerAuth::Challenge(std::string_view profile) const {
  std::vector<std::string> challenges;
  for (const Method& method : MethodsFor(profile)) {
    std::string challenge;
    switch (method.kind) {
      case Method::Kind::kBasic:
        challenge = absl::StrCat("Basic ", kRealm, ", charset=\"UTF-8\"");
        break;
      case Method::Kind::kBearer:
        challenge = absl::StrCat("Bearer ", kRealm);
        break;
      case Method::Kind::kApiKey:
        challenge = absl::StrCat("ApiKey ", kRealm, ", header=\"", method.header, "\"");
        break;
      case Method::Kind::kSignedWebhook:
        challenge = absl::StrCat("StandardWebhooks ", kRealm);
        break;
    }
    if (std::find(challenges.begin(), challenges.end(), challenge) == challenges.end()) {
      challenges.push_back(std::move(challenge));
    }
  }
  return absl::StrJoin(challenges, ", ");
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  return DigestsEqual(Sha256(a), Sha256(b));
}

std::string StandardWebhookSignature(std::string_view key, std::string_view id,
                                     std::string_view timestamp, std::string_view body) {
  const std::string content = absl::StrCat(ToAbsl(id), ".", ToAbsl(timestamp), ".", ToAbsl(body));
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac.data(), &length);
  return absl::StrCat("v1,", absl::Base64Escape(absl::string_view(
                                 reinterpret_cast<const char*>(mac.data()), length)));
}

absl::StatusOr<std::string> WebhookKeyFromSecret(std::string_view secret) {
  if (!absl::StartsWith(ToAbsl(secret), ToAbsl(kWebhookSecretPrefix))) return std::string(secret);
  std::string key;
  if (!absl::Base64Unescape(ToAbsl(secret.substr(kWebhookSecretPrefix.size())), &key) ||
      key.empty()) {
    return absl::InvalidArgumentError("is not valid base64 after whsec_");
  }
  return key;
}

absl::StatusOr<CallerAuth::Method> CallerAuth::MakeMethod(const v1::CallerAuth& auth,
                                                          const std::string& path,
                                                          const config::SecretSource& secrets) {
  using Kind = Method::Kind;
  Method method{};
  switch (auth.method_case()) {
    case v1::CallerAuth::kBasic: {
      absl::StatusOr<std::string> password =
          config::ResolveSecret(absl::StrCat(path, ".basic.password"), auth.basic().password(),
                                auth.basic().password_file(), secrets);
      if (!password.ok()) return password.status();
      method.kind = Kind::kBasic;
      method.expected = Sha256(absl::StrCat(auth.basic().username(), ":", *password));
      return method;
    }
    case v1::CallerAuth::kApiKey: {
      absl::StatusOr<std::string> key =
          config::ResolveSecret(absl::StrCat(path, ".api_key.key"), auth.api_key().key(),
                                auth.api_key().key_file(), secrets);
      if (!key.ok()) return key.status();
      method.kind = Kind::kApiKey;
      method.expected = Sha256(*key);
      method.header = absl::AsciiStrToLower(
          auth.api_key().header().empty() ? "x-api-key" : auth.api_key().header());
      return method;
    }
    case v1::CallerAuth::kBearer: {
      absl::StatusOr<std::string> token =
          config::ResolveSecret(absl::StrCat(path, ".bearer.token"), auth.bearer().token(),
                                auth.bearer().token_file(), secrets);
      if (!token.ok()) return token.status();
      method.kind = Kind::kBearer;
      method.expected = Sha256(*token);
      return method;
    }
    case v1::CallerAuth::kSignedWebhook: {
      const std::string key_path = absl::StrCat(path, ".signed_webhook.secret");
      absl::StatusOr<std::string> secret = config::ResolveSecret(
          key_path, auth.signed_webhook().secret(), auth.signed_webhook().secret_file(), secrets);
      if (!secret.ok()) return secret.status();
      absl::StatusOr<std::string> key = WebhookKeyFromSecret(*secret);
      if (!key.ok())
        return absl::InvalidArgumentError(absl::StrCat(key_path, " ", key.status().message()));
      method.kind = Kind::kSignedWebhook;
      method.webhook_key = *std::move(key);
      method.tolerance =
          config::DurationOr(auth.signed_webhook().has_tolerance(),
                             auth.signed_webhook().tolerance(), kDefaultWebhookTolerance);
      return method;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(path, ": no method"));
  }
}

}  // namespace onsync::gateway
