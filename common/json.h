// Small JSON text helpers for bodies that onsync writes by hand (error bodies, log lines), and the
// strict check of JSON that callers send. Structured payloads go through protobuf's json_util at
// the proto boundary instead.
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_JSON_H_
#define ONSYNC_COMMON_JSON_H_

#include <string>
#include <string_view>

namespace onsync {

// Returns `text` escaped for inclusion between JSON double quotes: `"` and `\` are escaped,
// control characters become \n, \r, \t or \u00XX; other bytes pass through unchanged.
std::string JsonEscape(std::string_view text);

// Returns `text` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view text);

// Whether `text` is exactly one JSON value by RFC 8259: valid escapes and UTF-8, nothing after the
// value but whitespace. protobuf's JSON parser is lenient (it takes `\q` as `q`); checking with
// this first keeps malformed bodies out. Nesting depth is not limited here (the check does not
// recurse).
bool IsStrictJson(std::string_view text);

}  // namespace onsync

#endif  // ONSYNC_COMMON_JSON_H_
