// What a killed useradd leaves, repaired without shadow-utils: stale lock files and a
// missing home (plugins/provision/accounts_home.cpp). The end-to-end proof with the
// real tools is tests/integration/provision_kill_test.cpp.

#include "plugins/provision/accounts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/support.hpp"

namespace pv = guestkit::plugins::provision;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

void age(const fs::path& p, time_t seconds_ago) {
  const timespec times[2] = {{time(nullptr) - seconds_ago, 0}, {time(nullptr) - seconds_ago, 0}};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("accounts: stale shadow-utils locks go, live ones stay", "[accounts]") {
  TempDir t;
  const std::string me = std::to_string(::getpid());
  // Held by this live process since before the lock was written: kept.
  t.write("etc/passwd.lock", me + std::string(1, '\0'));
  // This process, but the lock is older than it: the pid was recycled (a reboot).
  const auto recycled = t.write("etc/shadow.lock", me);
  age(recycled, 10L * 365 * 24 * 3600);
  // A pid no process has (above the kernel's pid_max limit of 2^22).
  t.write("etc/group.lock", "4194305\n");
  t.write("etc/gshadow.lock", "not a pid\n");
  REQUIRE(pv::clear_stale_shadow_locks(t.root()));
  CHECK(fs::exists(t.path() / "etc/passwd.lock"));
  CHECK_FALSE(fs::exists(t.path() / "etc/shadow.lock"));
  CHECK_FALSE(fs::exists(t.path() / "etc/group.lock"));
  CHECK_FALSE(fs::exists(t.path() / "etc/gshadow.lock"));
  // A link planted in place of a lock is never followed nor removed: an error.
  fs::create_symlink("/etc/hostname", t.path() / "etc/group.lock");
  CHECK_FALSE(pv::clear_stale_shadow_locks(t.root()));
  CHECK(fs::is_symlink(t.path() / "etc/group.lock"));
}

TEST_CASE("accounts: a missing home is made as useradd -m makes it, whole", "[accounts]") {
  if (!guestkit::test::running_as_root()) GUESTKIT_SKIP("chown to another user needs root");
  TempDir t;
  t.write("etc/skel/.profile", "# profile\n", 0644);
  t.write("etc/skel/.config/app.conf", "x=1\n", 0600);
  fs::create_symlink(".profile", t.path() / "etc/skel/.bash_profile");
  t.write("etc/login.defs", "# comment\nUMASK\t\t077\n");
  const pv::Account admin{"admin", 1000, 1000, "/home/admin"};
  // A leftover of a build killed halfway: cleared.
  t.write("home/.admin.gk-home/.profile", "half\n");

  auto made = pv::ensure_home(t.root(), admin);
  INFO((made ? "" : made.error().message()));
  REQUIRE(made);
  CHECK(*made);
  const auto home = t.path() / "home/admin";
  CHECK(stat_of(home).st_uid == 1000);
  CHECK(stat_of(home).st_gid == 1000);
  CHECK((stat_of(home).st_mode & 07777) == 0700);  // 0777 & ~UMASK 077
  CHECK((stat_of(t.path() / "home").st_mode & 07777) == 0755);
  CHECK(t.read("home/admin/.profile") == "# profile\n");
  CHECK((stat_of(home / ".profile").st_mode & 07777) == 0644);
  CHECK(stat_of(home / ".config/app.conf").st_uid == 1000);
  CHECK((stat_of(home / ".config/app.conf").st_mode & 07777) == 0600);
  CHECK(stat_of(home / ".config").st_uid == 1000);
  CHECK(fs::read_symlink(home / ".bash_profile") == ".profile");
  CHECK(stat_of(home / ".bash_profile").st_uid == 1000);
  CHECK_FALSE(fs::exists(t.path() / "home/.admin.gk-home"));

  // There already: left as it is.
  t.write("home/admin/.profile", "mine\n");
  auto again = pv::ensure_home(t.root(), admin);
  REQUIRE(again);
  CHECK_FALSE(*again);
  CHECK(t.read("home/admin/.profile") == "mine\n");

  // HOME_MODE wins over UMASK.
  t.write("etc/login.defs", "UMASK 077\nHOME_MODE 0750\n");
  CHECK(pv::home_mode(t.root()) == 0750);
}

TEST_CASE("accounts: a planted link or file where the home goes is refused", "[accounts]") {
  TempDir t;
  fs::create_directories(t.path() / "home");
  fs::create_directories(t.path() / "etc");
  fs::create_symlink("/etc", t.path() / "home/admin");
  const pv::Account admin{"admin", 1000, 1000, "/home/admin"};
  auto linked = pv::ensure_home(t.root(), admin);
  REQUIRE_FALSE(linked);
  CHECK(linked.error().message().find("not a directory") != std::string::npos);
  CHECK(fs::is_symlink(t.path() / "home/admin"));
  CHECK_FALSE(pv::ensure_home(t.root(), {"x", 1000, 1000, "/"}));
  CHECK_FALSE(pv::ensure_home(t.root(), {"x", 1000, 1000, "relative/home"}));
}
