// Helpers shared by the fuzz targets: a fatal invariant check (libFuzzer records the input that
// aborts) and a JSON well-formedness test.
#ifndef ONSYNC_TESTS_FUZZ_FUZZ_CHECK_H_
#define ONSYNC_TESTS_FUZZ_FUZZ_CHECK_H_

#include <rapidjson/document.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace onsync::fuzz {

// Aborts with `what` (and `detail`) when `ok` is false.
inline void Check(bool ok, const char* what, std::string_view detail = {}) {
  if (ok) return;
  std::fprintf(stderr, "\n*** fuzz invariant violated: %s\n", what);
  if (!detail.empty()) {
    std::fprintf(stderr, "*** detail: %.*s\n",
                 static_cast<int>(std::min<size_t>(detail.size(), 2000)), detail.data());
  }
  std::abort();
}

// True when `text` is one well-formed JSON value.
inline bool IsJson(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  return !doc.HasParseError();
}

}  // namespace onsync::fuzz

#endif  // ONSYNC_TESTS_FUZZ_FUZZ_CHECK_H_
