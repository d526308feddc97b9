// /etc/guestkit/sysctl.conf: every accepted key maps to a path under /proc/sys with no
// "." or ".." component, whatever the text.

#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/boot/sysctl_conf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto conf = guestkit::plugins::boot::parse_sysctl_conf(fuzz_text(data, size), "sysctl.conf");
  for (const auto& s : conf.settings) {
    FUZZ_CHECK(s.path.rfind("/proc/sys/", 0) == 0);
    FUZZ_CHECK(s.path.find("/../") == std::string::npos && s.path.find("/./") == std::string::npos);
    FUZZ_CHECK(s.path.find("//") == std::string::npos);
    FUZZ_CHECK(s.path.back() != '/' && s.path.substr(s.path.size() - 3) != "/.." &&
               s.path.substr(s.path.size() - 2) != "/.");
  }
  return 0;
}
