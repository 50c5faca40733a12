// Conversions of ServiceNow's string values into the Onspring-typed values the engine puts in
// the flat response and writes back: numbers (NumberKind), dates (DateKind) and multi-entry
// values split on a separator and joined again (OutputField split/join, e.g. the PoC's
// comma-separated `u_regulatory_legal_and_compliance` -> "id|id|...").
//
// Thread safety: pure functions (no I/O, no shared state); safe to call from any thread.
#ifndef ONSYNC_SERVER_ENGINE_VALUES_H_
#define ONSYNC_SERVER_ENGINE_VALUES_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace onsync::engine {

// Parses a decimal number: optional sign, digits with an optional fraction (`12`, `-3.5`, `+4`,
// `.5`, `7.`) and an optional exponent (`1e3`); surrounding ASCII whitespace is ignored.
// INVALID_ARGUMENT for empty text, garbage, digit grouping (`1,234`), hex, `inf`/`nan` and
// values outside the range of double.
absl::StatusOr<double> ParseNumber(std::string_view text);

// Converts ServiceNow's UTC date/time to ISO 8601 UTC:
//   `YYYY-MM-DD`          -> `YYYY-MM-DDT00:00:00Z`
//   `YYYY-MM-DD HH:MM:SS` -> `YYYY-MM-DDTHH:MM:SSZ`
// Surrounding ASCII whitespace is ignored. INVALID_ARGUMENT for any other shape and for values
// out of range (month 13, Feb 30, hour 24, second 60, year 0000).
absl::StatusOr<std::string> ToIsoUtc(std::string_view servicenow_datetime);

// Splits `value` on `separator`, trims ASCII whitespace from each entry, drops empty entries
// and exact duplicates (the first occurrence keeps its place) and keeps the order. An empty
// separator yields the whole trimmed value as one entry (none if it is blank).
std::vector<std::string> SplitEntries(std::string_view value, std::string_view separator);

// Joins entries with `joiner` ("" for no entries).
std::string JoinEntries(const std::vector<std::string>& entries, std::string_view joiner);

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_VALUES_H_
