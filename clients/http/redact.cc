#include "clients/http/redact.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/string_view.h"

namespace onsync::clients {
namespace {

// Header names whose value is a credential. Matched case-insensitively as whole words.
constexpr std::array<std::string_view, 6> kSecretHeaders = {
    "proxy-authorization", "authorization", "x-apikey", "x-api-key", "set-cookie", "cookie",
};

// Query/form parameter names whose value is a credential. Matched case-insensitively, whole name.
constexpr std::array<std::string_view, 12> kSecretParams = {
    "password",      "passwd",   "api_key",       "apikey", "token", "access_token",
    "refresh_token", "id_token", "client_secret", "secret", "sig",   "signature",
};

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(a), ToAbsl(b));
}

bool IsAuthorizationHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "authorization") || EqualsIgnoreCase(name, "proxy-authorization");
}

bool IsSecretHeader(std::string_view name) {
  return std::any_of(kSecretHeaders.begin(), kSecretHeaders.end(),
                     [&](std::string_view secret) { return EqualsIgnoreCase(name, secret); });
}

bool IsSecretParam(std::string_view name) {
  return std::any_of(kSecretParams.begin(), kSecretParams.end(),
                     [&](std::string_view secret) { return EqualsIgnoreCase(name, secret); });
}

// For an Authorization value, the length of a leading scheme word followed by a space ("Basic ",
// "Bearer "), which is kept because it helps debugging and reveals nothing; 0 otherwise.
size_t AuthSchemePrefixLength(std::string_view value) {
  size_t i = 0;
  while (i < value.size() && absl::ascii_isalpha(static_cast<unsigned char>(value[i]))) ++i;
  if (i == 0 || i >= value.size() || value[i] != ' ' || i > 16) return 0;
  return i + 1;
}

// Masks header-like "name: value" pairs (also "name=value" and JSON "\"name\": \"value\"").
std::string MaskSecretHeaders(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    // Start of a name: not preceded by a name character.
    if (!IsNameChar(text[i]) || (i > 0 && IsNameChar(text[i - 1]))) {
      out.push_back(text[i++]);
      continue;
    }
    size_t name_end = i;
    while (name_end < text.size() && IsNameChar(text[name_end])) ++name_end;
    const std::string_view name = text.substr(i, name_end - i);
    if (!IsSecretHeader(name)) {
      out.append(name);
      i = name_end;
      continue;
    }
    // Optional closing quote of a JSON key, optional spaces, then ':' or '='.
    size_t j = name_end;
    if (j < text.size() && (text[j] == '"' || text[j] == '\'')) ++j;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
    if (j >= text.size() || (text[j] != ':' && text[j] != '=')) {
      out.append(name);
      i = name_end;
      continue;
    }
    ++j;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
    char quote = 0;
    if (j < text.size() && (text[j] == '"' || text[j] == '\'')) quote = text[j++];
    size_t value_end = j;
    while (value_end < text.size() && text[value_end] != '\r' && text[value_end] != '\n' &&
           (quote == 0 || text[value_end] != quote)) {
      ++value_end;
    }
    out.append(text.substr(i, j - i));  // name, separator, opening quote
    const std::string_view value = text.substr(j, value_end - j);
    if (!value.empty()) {
      if (IsAuthorizationHeader(name)) out.append(value.substr(0, AuthSchemePrefixLength(value)));
      out.append(kRedacted);
    }
    i = value_end;
  }
  return out;
}

// "scheme://user:pass@host" -> "scheme://[REDACTED]@host", anywhere in the text.
std::string MaskUrlUserinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t scheme_sep = text.find("://", i);
    if (scheme_sep == std::string_view::npos) break;
    const size_t authority_begin = scheme_sep + 3;
    size_t authority_end = authority_begin;
    while (authority_end < text.size()) {
      const char c = text[authority_end];
      if (c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
          absl::ascii_isspace(static_cast<unsigned char>(c))) {
        break;
      }
      ++authority_end;
    }
    const std::string_view authority =
        text.substr(authority_begin, authority_end - authority_begin);
    const size_t at = authority.rfind('@');
    out.append(text.substr(i, authority_begin - i));
    if (at != std::string_view::npos) {
      out.append(kRedacted);
      out.append(authority.substr(at));
    } else {
      out.append(authority);
    }
    i = authority_end;
  }
  out.append(text.substr(i));
  return out;
}

// Masks values of sensitive parameters in query strings and form bodies: a parameter starts at
// the beginning of the text or after '?', '&', ';' or whitespace; its value runs to the next '&',
// '#', ';', quote, whitespace or the end.
std::string MaskSecretParams(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool at_param_start = i == 0 || text[i - 1] == '?' || text[i - 1] == '&' ||
                                text[i - 1] == ';' ||
                                absl::ascii_isspace(static_cast<unsigned char>(text[i - 1]));
    if (!at_param_start || !IsNameChar(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    size_t name_end = i;
    while (name_end < text.size() && IsNameChar(text[name_end])) ++name_end;
    const std::string_view name = text.substr(i, name_end - i);
    out.append(name);
    i = name_end;
    if (i >= text.size() || text[i] != '=' || !IsSecretParam(name)) continue;
    out.push_back('=');
    ++i;
    size_t value_end = i;
    while (value_end < text.size()) {
      const char c = text[value_end];
      if (c == '&' || c == '#' || c == ';' || c == '"' || c == '\'' ||
          absl::ascii_isspace(static_cast<unsigned char>(c))) {
        break;
      }
      ++value_end;
    }
    if (value_end > i) out.append(kRedacted);
    i = value_end;
  }
  return out;
}

}  // namespace

Redactor& Redactor::Global() {
  // Never destroyed: usable from any thread until the process ends.
  static Redactor* const global = new Redactor();
  return *global;
}

void Redactor::AddSecret(std::string value) {
  if (value.size() < kMinSecretLength) return;
  std::unique_lock lock(mu_);
  if (std::find(secrets_.begin(), secrets_.end(), value) != secrets_.end()) return;
  secrets_.push_back(std::move(value));
  std::stable_sort(secrets_.begin(), secrets_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

size_t Redactor::secret_count() const {
  std::shared_lock lock(mu_);
  return secrets_.size();
}

std::string Redactor::MaskRegisteredSecrets(std::string_view text) const {
  std::string out(text);
  std::shared_lock lock(mu_);
  for (const std::string& secret : secrets_) {
    size_t pos = out.find(secret);
    while (pos != std::string::npos) {
      out.replace(pos, secret.size(), kRedacted);
      pos = out.find(secret, pos + kRedacted.size());
    }
  }
  return out;
}

std::string Redactor::Redact(std::string_view text) const {
  std::string masked = MaskRegisteredSecrets(text);
  masked = MaskUrlUserinfo(masked);
  masked = MaskSecretParams(masked);
  return MaskSecretHeaders(masked);
}

std::string Redactor::RedactUrl(std::string_view url) const {
  return MaskSecretParams(MaskUrlUserinfo(MaskRegisteredSecrets(url)));
}

std::string Redactor::RedactHeader(std::string_view name, std::string_view value) const {
  if (IsSecretHeader(name)) {
    std::string out;
    if (IsAuthorizationHeader(name)) out.append(value.substr(0, AuthSchemePrefixLength(value)));
    out.append(kRedacted);
    return out;
  }
  return MaskRegisteredSecrets(value);
}

std::string RedactUrl(std::string_view url) { return Redactor::Global().RedactUrl(url); }

std::string RedactHeader(std::string_view name, std::string_view value) {
  return Redactor::Global().RedactHeader(name, value);
}

std::string Redact(std::string_view text) { return Redactor::Global().Redact(text); }

}  // namespace onsync::clients
