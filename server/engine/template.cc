#include "server/engine/template.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/string_view.h"

namespace onsync::engine {
namespace {

struct TransformName {
  std::string_view name;
  Template::Transform transform;
};

// Order and names match kTransforms of the config validator.
constexpr TransformName kTransforms[] = {
    {"first_space_to_dot", Template::Transform::kFirstSpaceToDot},
    {"first_word", Template::Transform::kFirstWord},
    {"rest_words", Template::Transform::kRestWords},
    {"lower", Template::Transform::kLower},
    {"upper", Template::Transform::kUpper},
    {"trim", Template::Transform::kTrim},
};

std::string_view Trim(std::string_view text) {
  return ToStd(absl::StripAsciiWhitespace(ToAbsl(text)));
}

std::string KnownTransforms() {
  std::vector<std::string_view> names;
  for (const TransformName& t : kTransforms) names.push_back(t.name);
  return absl::StrJoin(names, ", ", [](std::string* out, std::string_view name) {
    out->append(name.data(), name.size());
  });
}

}  // namespace

std::string Template::Apply(Transform transform, std::string_view value) {
  switch (transform) {
    case Transform::kFirstSpaceToDot: {
      std::string out(value);
      if (const size_t space = out.find(' '); space != std::string::npos) out[space] = '.';
      return out;
    }
    case Transform::kFirstWord: {
      const std::string_view trimmed = Trim(value);
      return std::string(trimmed.substr(0, trimmed.find(' ')));
    }
    case Transform::kRestWords: {
      const std::string_view trimmed = Trim(value);
      const size_t space = trimmed.find(' ');
      if (space == std::string_view::npos) return "";
      return std::string(Trim(trimmed.substr(space + 1)));
    }
    case Transform::kLower: {
      std::string out(value);
      absl::AsciiStrToLower(&out);
      return out;
    }
    case Transform::kUpper: {
      std::string out(value);
      absl::AsciiStrToUpper(&out);
      return out;
    }
    case Transform::kTrim:
      return std::string(Trim(value));
  }
  return std::string(value);
}

absl::StatusOr<Template> Template::Parse(std::string_view text) {
  Template result;
  result.source_ = std::string(text);
  size_t pos = 0;
  std::string literal;
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '}') {
      return absl::InvalidArgumentError(absl::StrCat("template \"", ToAbsl(text),
                                                     "\": unbalanced braces: '}' at offset ", pos,
                                                     " has no '{'"));
    }
    if (c != '{') {
      literal.push_back(c);
      ++pos;
      continue;
    }
    const size_t end = text.find_first_of("{}", pos + 1);
    if (end == std::string_view::npos || text[end] == '{') {
      return absl::InvalidArgumentError(absl::StrCat("template \"", ToAbsl(text),
                                                     "\": unbalanced braces: '{' at offset ", pos,
                                                     " is not closed"));
    }
    const std::vector<absl::string_view> parts =
        absl::StrSplit(ToAbsl(text.substr(pos + 1, end - pos - 1)), '|');
    const std::string_view placeholder = Trim(ToStd(parts[0]));
    if (placeholder != "value") {
      return absl::InvalidArgumentError(
          absl::StrCat("template \"", ToAbsl(text), "\": unknown placeholder {",
                       ToAbsl(placeholder), "}: only {value} is supported"));
    }
    Segment placeholder_segment;
    placeholder_segment.is_placeholder = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string_view name = Trim(ToStd(parts[i]));
      const TransformName* found = nullptr;
      for (const TransformName& t : kTransforms) {
        if (t.name == name) found = &t;
      }
      if (found == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("template \"", ToAbsl(text),
                                                       "\": unknown transform \"", ToAbsl(name),
                                                       "\" (known: ", KnownTransforms(), ")"));
      }
      placeholder_segment.transforms.push_back(found->transform);
    }
    if (!literal.empty()) {
      result.segments_.push_back(Segment{std::move(literal), false, {}});
      literal.clear();
    }
    result.segments_.push_back(std::move(placeholder_segment));
    pos = end + 1;
  }
  if (!literal.empty()) result.segments_.push_back(Segment{std::move(literal), false, {}});
  return result;
}

std::string Template::Render(std::string_view value) const {
  std::string out;
  for (const Segment& segment : segments_) {
    if (!segment.is_placeholder) {
      out += segment.literal;
      continue;
    }
    std::string current(value);
    for (const Transform transform : segment.transforms) current = Apply(transform, current);
    out += current;
  }
  return out;
}

}  // namespace onsync::engine
