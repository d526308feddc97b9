// /run/guestkit and /var/lib/guestkit get one mode (0755, as tmpfiles.d says) by
// whichever path creates them first: a lock (the agent, every hotplug helper), a
// record written with its parents (the runner, the config cache), a mkdirs (iface
// state, postboot), under any umask. It used to be 0700 or 0755 depending on who
// came first.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>

#include "core/files.hpp"
#include "core/lock.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
using guestkit::test::TempDir;
using namespace std::chrono_literals;

namespace {

class Umask {
 public:
  explicit Umask(mode_t mask) : old_(::umask(mask)) {}
  ~Umask() { ::umask(old_); }

 private:
  mode_t old_;
};

mode_t mode_of(const TempDir& t, const char* guest) {
  struct stat st {};
  REQUIRE(::lstat((t.path().string() + guest).c_str(), &st) == 0);
  REQUIRE(S_ISDIR(st.st_mode));
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("guestkit's own directories get the same mode whoever creates them", "[own-dirs]") {
  using Create = std::function<void(const gc::Root&)>;
  const std::vector<std::pair<const char*, Create>> creators{
      {"a lock", [](const gc::Root& r) { REQUIRE(gc::Lock::acquire(r, "boot", 0ms)); }},
      {"a run record with its parents (0700 asked)",
       [](const gc::Root& r) {
         gc::WriteOptions wo;
         wo.create_parents = true;
         wo.parent_mode = 0700;
         REQUIRE(gc::write_file_atomic(r, "/run/guestkit/runs/x.json", "{}", wo));
       }},
      {"mkdirs of a state directory (0700 asked)",
       [](const gc::Root& r) { REQUIRE(r.mkdirs("/run/guestkit/iface", 0700)); }},
      {"a provisioned marker",
       [](const gc::Root& r) {
         gc::WriteOptions wo;
         wo.create_parents = true;
         wo.parent_mode = 0700;
         REQUIRE(gc::write_file_atomic(r, "/var/lib/guestkit/provisioned/x", "", wo));
       }},
      {"the postboot done directory",
       [](const gc::Root& r) { REQUIRE(r.mkdirs("/var/lib/guestkit/postboot/done", 0700)); }},
  };
  for (mode_t mask : {022, 077, 0}) {
    for (const auto& [what, create] : creators) {
      INFO(what << ", umask 0" << std::oct << mask);
      TempDir t;
      {
        Umask m(mask);
        create(t.root());
      }
      const char* top = std::string(what).find("marker") != std::string::npos ||
                                std::string(what).find("postboot") != std::string::npos
                            ? gc::paths::kStateDir
                            : gc::paths::kRunDir;
      CHECK(mode_of(t, top) == gc::paths::kOwnDirMode);
      CHECK(gc::paths::kOwnDirMode == 0755);
    }
  }
  // What lies below keeps its own, private mode.
  TempDir t;
  REQUIRE(gc::Lock::acquire(t.root(), "boot", 0ms));
  CHECK(mode_of(t, gc::paths::kLockDir) == 0700);
  // An existing directory is left as the admin (or tmpfiles.d) made it.
  TempDir u;
  std::filesystem::create_directories(u.path() / "run/guestkit");
  std::filesystem::permissions(u.path() / "run/guestkit", std::filesystem::perms(0711));
  REQUIRE(gc::Lock::acquire(u.root(), "boot", 0ms));
  CHECK(mode_of(u, gc::paths::kRunDir) == 0711);
}
