// URL, query-string, form and Base64 helpers for the sandbox's fake upstream APIs.
//
// The HTTP core hands the sandbox raw request targets (nothing percent-decoded); these helpers
// decode them the way a Java servlet container (ServiceNow) and ASP.NET (Onspring) do: `%XX`
// sequences decoded, `+` read as a space in query strings and form bodies, malformed escapes
// left as they are.
//
// Thread safety: pure functions.
#ifndef ONSYNC_TESTS_SANDBOX_URL_H_
#define ONSYNC_TESTS_SANDBOX_URL_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace onsync::sandbox {

// One `key=value` pair of a query string or form body.
struct QueryParam {
  std::string raw;    // the pair exactly as sent, e.g. "sysparm_query=name%3DFoo"
  std::string key;    // decoded
  std::string value;  // decoded ("" when the pair has no '=')
};

// Decodes %XX escapes; with `plus_is_space`, '+' becomes ' '. Invalid escapes are kept verbatim.
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Percent-encodes everything except RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string PercentEncode(std::string_view text);

// Splits "a=1&b=2" into pairs, in order; empty pairs ("a=1&&b=2") are skipped.
std::vector<QueryParam> ParseQuery(std::string_view query);

// Splits a path into percent-decoded segments: "/api/now/table/x/" -> {"api","now","table","x"}.
std::vector<std::string> PathSegments(std::string_view path);

// Value of the first pair whose key equals `key` (case-sensitively unless `ignore_case`).
std::optional<std::string> FindParam(const std::vector<QueryParam>& params, std::string_view key,
                                     bool ignore_case = false);

std::string Base64Encode(std::string_view data);
// Standard alphabet, padding optional; whitespace not allowed. Invalid -> INVALID_ARGUMENT.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

// A listen address "host:port" split into its parts; IPv6 hosts keep their brackets.
struct HostPort {
  std::string host;
  int port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(std::string_view address);

// True for 127.0.0.0/8, ::1 and "localhost" (brackets allowed around IPv6).
bool IsLoopbackHost(std::string_view host);

// True when a remote address as the HTTP core reports it ("ip:port", "[ip]:port") is loopback.
bool IsLoopbackRemote(std::string_view remote_address);

}  // namespace onsync::sandbox

#endif  // ONSYNC_TESTS_SANDBOX_URL_H_
