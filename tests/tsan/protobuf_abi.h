// Force-included (-include, the `tsan` preset's CMAKE_CXX_FLAGS) into every C++ file of the tsan
// build: keeps protobuf's class layouts those of Debian's libprotobuf, which is not built with
// TSan.
//
// google/protobuf/map_field.h gives MapFieldBase two extra members (seq1_, seq2_: protobuf's own
// race canary) when __SANITIZE_THREAD__ is defined. Compiled that way, our generated messages with
// map fields disagree with libprotobuf.so about their layout, and the library's reflection code
// crashes on them (SEGV in RepeatedPtrField::Clear, Map internals). So map_field.h (and what it
// includes) is read once here with __SANITIZE_THREAD__ undefined; its include guard keeps that
// version for the rest of the file. libstdc++'s and Abseil's configuration headers are read first,
// with it defined, so that their TSan support (_GLIBCXX_TSAN: shared_ptr's TSan-visible reference
// counts; ABSL_HAVE_THREAD_SANITIZER) stays on. Nothing else in those headers depends on the macro.
#pragma once

#include <cstddef>  // bits/c++config.h

#include "absl/base/config.h"

#ifdef __SANITIZE_THREAD__
#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
#endif
