// The old platform's /etc/default/gandi (CONFIG_*=value, shell syntax, no shell run):
// any text is applied or warned about, never a crash, and the result is a Config the
// cache codec carries unchanged.

#include <string>

#include "core/config.hpp"
#include "core/config_cache.hpp"
#include "fuzz/fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  guestkit::core::Config config;
  guestkit::core::apply_legacy(config, std::string(fuzz_text(data, size)), "gandi");
  const auto encoded = guestkit::core::detail::encode_config(config);
  auto decoded = guestkit::core::detail::decode_config(encoded);
  FUZZ_CHECK(decoded);
  FUZZ_CHECK(guestkit::core::detail::encode_config(*decoded) == encoded);
  return 0;
}
