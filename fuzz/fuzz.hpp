#pragma once
// Shared by the libFuzzer targets of fuzz/ (fuzz/README.md). A target aborts (and so
// reports a crash with its input) when a property that must hold for every input does
// not: FUZZ_CHECK is that check, active in every build, unlike assert().

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

inline std::string_view fuzz_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}
