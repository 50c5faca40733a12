// Bridges std::string_view and absl::string_view.
//
// Debian's Abseil 20220623 is built with ABSL_OPTION_USE_STD_STRING_VIEW 0: absl::string_view
// is its own type and neither converts to the other implicitly. onsync's own APIs take
// std::string_view; calls into Abseil's string functions go through ToAbsl, and text coming
// back from Abseil (Status::message()) through ToStd.
//
// Thread safety: pure functions.
#ifndef ONSYNC_COMMON_STRING_VIEW_H_
#define ONSYNC_COMMON_STRING_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace onsync {

inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }
inline std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }

}  // namespace onsync

#endif  // ONSYNC_COMMON_STRING_VIEW_H_
