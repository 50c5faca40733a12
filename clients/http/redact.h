// The project's one redaction helper: masks secrets in text before it is logged, put into a
// Status message, or otherwise leaves the process.
//
// Two kinds of masking, both replacing the secret with "[REDACTED]":
//  - by value: every occurrence of a registered secret (AddSecret), wherever it appears;
//  - by structure, even for secrets nobody registered:
//      * header-like "name: value" / "name=value" / "\"name\": \"value\"" pairs whose name is one
//        of Authorization, Proxy-Authorization, X-ApiKey, X-Api-Key, Cookie, Set-Cookie
//        (case-insensitive); the value is masked up to the end of the line (or the closing quote
//        when it was quoted). For (Proxy-)Authorization the scheme word (Basic, Bearer, ...) is
//        kept: "Authorization: Basic [REDACTED]";
//      * userinfo in URLs: "https://user:pass@host" -> "https://[REDACTED]@host";
//      * values of query/form parameters named password, passwd, api_key, apikey, token,
//        access_token, refresh_token, id_token, client_secret, secret, sig, signature
//        (case-insensitive), e.g. "?token=abc&x=1" -> "?token=[REDACTED]&x=1".
// Masking errs on the side of hiding too much: a header-like match masks to the end of the line.
// It is a denylist and so a second line of defence: code must still never log bodies or headers
// wholesale.
//
// Thread safety: Redactor is thread-safe; AddSecret may race with Redact (a Redact that runs
// concurrently with AddSecret may or may not mask the new secret). The free functions use
// Redactor::Global() and are thread-safe.
#ifndef ONSYNC_CLIENTS_HTTP_REDACT_H_
#define ONSYNC_CLIENTS_HTTP_REDACT_H_

#include <cstddef>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace onsync::clients {

inline constexpr std::string_view kRedacted = "[REDACTED]";

class Redactor {
 public:
  // Secrets shorter than this are ignored by AddSecret: masking "abc" everywhere would mangle
  // ordinary text and hide nothing worth hiding.
  static constexpr size_t kMinSecretLength = 4;

  Redactor() = default;
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  // The process-wide instance: configuration loading registers every secret it reads here
  // (passwords, API keys, client secrets, tokens as they are minted).
  static Redactor& Global();

  // Registers a secret value to be masked wherever it appears. Empty values and values shorter
  // than kMinSecretLength are ignored; duplicates are registered once.
  void AddSecret(std::string value);

  // `text` with registered secrets and structurally recognised secrets replaced by "[REDACTED]".
  std::string Redact(std::string_view text) const;

  // Only the URL rules (userinfo, sensitive query parameters) plus registered secrets.
  std::string RedactUrl(std::string_view url) const;

  // The value to show for header `name`: "[REDACTED]" for credential-bearing headers
  // (Authorization and Proxy-Authorization keep their scheme word), otherwise `value` with
  // registered secrets masked.
  std::string RedactHeader(std::string_view name, std::string_view value) const;

  // Number of registered secrets (for tests and diagnostics; never the secrets themselves).
  size_t secret_count() const;

 private:
  std::string MaskRegisteredSecrets(std::string_view text) const;

  // std:: rather than absl:: synchronisation throughout clients/http: Debian's Abseil is not
  // built with ThreadSanitizer annotations, so absl::Mutex is invisible to TSan builds.
  mutable std::shared_mutex mu_;
  // Longest first, so that a secret containing another is masked whole.
  std::vector<std::string> secrets_;  // guarded by mu_
};

// Redactor::Global().RedactUrl(url).
std::string RedactUrl(std::string_view url);

// Redactor::Global().RedactHeader(name, value).
std::string RedactHeader(std::string_view name, std::string_view value);

// Redactor::Global().Redact(text).
std::string Redact(std::string_view text);

}  // namespace onsync::clients

#endif  // ONSYNC_CLIENTS_HTTP_REDACT_H_
