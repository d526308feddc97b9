// guestkit.yml and its drop-ins: any text is applied or refused with FILE:LINE:COL
// messages, never a crash; and whatever it sets survives the config cache's codec.

#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/config_cache.hpp"
#include "fuzz/fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  guestkit::core::Config config;
  std::vector<std::string> errors;
  const bool ok = guestkit::core::apply_yaml(config, std::string(fuzz_text(data, size)), "fuzz.yml", errors);
  FUZZ_CHECK(ok == errors.empty());
  for (const auto& e : errors) FUZZ_CHECK(e.rfind("fuzz.yml", 0) == 0);
  const auto encoded = guestkit::core::detail::encode_config(config);
  auto decoded = guestkit::core::detail::decode_config(encoded);
  FUZZ_CHECK(decoded);
  FUZZ_CHECK(guestkit::core::detail::encode_config(*decoded) == encoded);
  return 0;
}
