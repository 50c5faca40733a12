// Create templates of `ReferenceKind.create` (config.proto): the text that fills a field of a
// record the engine creates for a missing reference, e.g. the PoC's user records built from a
// display name ("Mary Ann Smith" -> username "{value|first_space_to_dot|lower}").
//
// Grammar (the same one the config validator accepts, server/config/config_loader.cc):
//   - text outside braces is literal and copied as is; there is no escape for a literal brace,
//     so a '}' outside a placeholder and a '{' that is not closed before the next '{' are errors;
//   - `{value}` is replaced by the value; `{value|t1|t2}` applies the transforms left to right;
//     spaces around `value` and around each transform name are allowed (`{ value | lower }`).
// Transforms (on UTF-8 text; they split on the ASCII space ' ' and never cut a multi-byte
// character since all UTF-8 continuation/lead bytes are >= 0x80):
//   first_word          text before the first space, after trimming ("  Mary Ann " -> "Mary")
//   rest_words          everything after the first word, trimmed; "" for a single word
//   first_space_to_dot  replaces only the FIRST space with '.' (the PoC's username rule:
//                       "Mary Ann Smith" -> "Mary.Ann Smith"); no trimming, pipe `trim` first
//                       if wanted
//   lower / upper       ASCII letters only; non-ASCII bytes are left unchanged, so "Zoë" lowers
//                       to "zoë" but "É" stays "É"
//   trim                strips leading/trailing ASCII whitespace
//
// Thread safety: a Template is an immutable value after Parse; Render is const and may be called
// concurrently from any number of threads. All functions are pure (no I/O, no global state).
#ifndef ONSYNC_SERVER_ENGINE_TEMPLATE_H_
#define ONSYNC_SERVER_ENGINE_TEMPLATE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace onsync::engine {

class Template {
 public:
  enum class Transform { kFirstSpaceToDot, kFirstWord, kRestWords, kLower, kUpper, kTrim };

  // Parses `text`. INVALID_ARGUMENT naming the problem: unbalanced braces (with the offset),
  // an unknown placeholder (only {value} exists) or an unknown transform (listing the known
  // ones).
  static absl::StatusOr<Template> Parse(std::string_view text);

  // Returns the template with every placeholder replaced by its transformed `value`.
  std::string Render(std::string_view value) const;

  // The text this template was parsed from.
  const std::string& source() const { return source_; }

  // Applies one transform (exposed for tests and for callers composing their own rules).
  static std::string Apply(Transform transform, std::string_view value);

 private:
  struct Segment {
    std::string literal;  // Used when !is_placeholder.
    bool is_placeholder = false;
    std::vector<Transform> transforms;  // Applied left to right.
  };

  Template() = default;

  std::string source_;
  std::vector<Segment> segments_;
};

}  // namespace onsync::engine

#endif  // ONSYNC_SERVER_ENGINE_TEMPLATE_H_
