// URL origins for the ServiceNow client: credentials only ever go to the configured instance
// origin, so every URL the client is about to send to (its own, or a `Link: rel="next"` URL from a
// response) is compared by origin first.
//
// Thread safety: pure functions.
#ifndef ONSYNC_CLIENTS_SERVICENOW_ORIGIN_H_
#define ONSYNC_CLIENTS_SERVICENOW_ORIGIN_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace onsync::clients::servicenow {

// `scheme://host[:port]` of an absolute http(s) URL: scheme and host lower-cased, a default port
// (80 for http, 443 for https) dropped. nullopt when `url` is not an absolute http(s) URL or
// carries user info (`user@host`).
std::optional<std::string> OriginOf(std::string_view url);

// `url` on `origin` exactly as spelled there (its path, query and fragment kept) when the URL's
// origin (OriginOf) is `origin`; nullopt otherwise. What is sent is then always the configured
// origin's own text, whatever case or default port the URL came with.
std::optional<std::string> OnOrigin(std::string_view url, std::string_view origin);

// The origin of a configured instance URL, which must be an http(s) origin with at most a
// trailing '/': no path, query, fragment or user info. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> InstanceOrigin(std::string_view instance_url);

}  // namespace onsync::clients::servicenow

#endif  // ONSYNC_CLIENTS_SERVICENOW_ORIGIN_H_
