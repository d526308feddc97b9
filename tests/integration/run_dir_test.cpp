// /run/guestkit gets the same mode (0755, as tmpfiles.d/guestkit.conf says) whichever
// binary creates it first, whatever the umask it was started with: it used to be
// 0700 when a lock came first (the agent, the hotplug helpers) and 0755 otherwise.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/exec.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
using guestkit::test::TempDir;

TEST_CASE("every binary creates /run/guestkit with the same mode", "[own-dirs]") {
  const std::vector<std::pair<std::pair<const char*, const char*>, std::vector<std::string>>> runs{
      {{"plugins", "guestkit-boot"}, {"config"}},
      {{"hotplug", "guestkit-disk"}, {"--coldplug"}},
      {{"hotplug", "guestkit-iface"}, {"--coldplug"}},
      {{"hotplug", "guestkit-cpu"}, {"--coldplug"}},
      {{"hotplug", "guestkit-memory"}, {"--coldplug"}},
      {{"agent", "guestkit-agent"}, {"--disable"}},
  };
  for (mode_t mask : {077, 022}) {
    for (const auto& [binary, args] : runs) {
      INFO(binary.second << " under umask 0" << std::oct << mask);
      TempDir t;
      std::vector<std::string> argv{
          guestkit::test::built_binary(binary.first, binary.second).string(), "--root",
          t.path().string(), "--log-stderr"};
      argv.insert(argv.end(), args.begin(), args.end());
      const mode_t old = ::umask(mask);  // the child inherits it
      auto r = gc::run(argv);
      ::umask(old);
      REQUIRE(r);
      INFO(r->err);
      struct stat st {};
      REQUIRE(::lstat((t.path().string() + gc::paths::kRunDir).c_str(), &st) == 0);
      CHECK(S_ISDIR(st.st_mode));
      CHECK((st.st_mode & 07777) == 0755);
    }
  }
}
