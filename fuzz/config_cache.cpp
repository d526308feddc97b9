// The config cache codec on arbitrary bytes (a damaged or planted cache): decoded or
// refused, never a crash; what decodes re-encodes to a fixpoint.

#include <string>

#include "core/config.hpp"
#include "core/config_cache.hpp"
#include "fuzz/fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto decoded = guestkit::core::detail::decode_config(fuzz_text(data, size));
  if (!decoded) return 0;
  const auto once = guestkit::core::detail::encode_config(*decoded);
  auto again = guestkit::core::detail::decode_config(once);
  FUZZ_CHECK(again);
  FUZZ_CHECK(guestkit::core::detail::encode_config(*again) == once);
  return 0;
}
