// The seed's small text channels: SMBIOS type 11 OEM strings (the agent key) and the
// `ds=nocloud;s=file:///PATH/` pointer (kernel command line, SMBIOS serial). An OEM
// string that is not a key is never mistaken for one; a ds= directory is absolute and
// never climbs.
//
// First input byte: which parser (even: SMBIOS structure, odd: ds= text).

#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/seed/discover.hpp"

namespace seed = guestkit::plugins::seed;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto text = fuzz_text(data + 1, size - 1);
  if (data[0] & 1) {
    if (auto dir = seed::ds_seed_dir(text)) {
      FUZZ_CHECK(!dir->empty() && dir->front() == '/');
      FUZZ_CHECK(dir->find("/../") == std::string::npos);
      FUZZ_CHECK(dir->find('\0') == std::string::npos);
    }
    return 0;
  }
  auto strings = seed::smbios_oem_strings(text);
  if (!strings) return 0;
  for (const auto& s : *strings) FUZZ_CHECK(s.find('\0') == std::string::npos);
  auto key = seed::agent_key_of(*strings);
  if (key && *key) {
    bool named = false;
    for (const auto& s : *strings) named |= s.rfind("io.guestkit.agent-key=", 0) == 0;
    FUZZ_CHECK(named);
  }
  return 0;
}
