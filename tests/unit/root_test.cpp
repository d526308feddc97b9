// Root: guest paths resolve under the prefix and never leave it.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/root.hpp"
#include "tests/support.hpp"

using guestkit::core::Errc;
using guestkit::core::Follow;
using guestkit::core::Root;
using guestkit::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("normalize collapses slashes and dots, refuses to climb above /", "[root]") {
  CHECK(*Root::normalize("/") == "/");
  CHECK(*Root::normalize("//etc///motd") == "/etc/motd");
  CHECK(*Root::normalize("/etc/./guestkit/../motd") == "/etc/motd");
  CHECK(*Root::normalize("/etc/..") == "/");
  auto up = Root::normalize("/../etc/passwd");
  REQUIRE_FALSE(up);
  CHECK(up.error().code == Errc::escapes_root);
  CHECK_FALSE(Root::normalize("/etc/../../x"));
  CHECK(Root::normalize("etc/motd").error().code == Errc::bad_input);  // relative
  CHECK(Root::normalize("").error().code == Errc::bad_input);
  CHECK(Root::normalize(std::string("/etc/\0x", 7)).error().code == Errc::bad_input);
}

TEST_CASE("host_path joins the prefix lexically", "[root]") {
  TempDir t;
  Root r = t.root();
  CHECK(r.host_path("/etc/motd")->string() == t.path().string() + "/etc/motd");
  CHECK(*r.host_path("/") == t.path());
  CHECK_FALSE(r.host_path("/../../etc/passwd"));
  CHECK(Root::host().host_path("/etc/motd")->string() == "/etc/motd");
  CHECK(Root::host().is_host());
  CHECK_FALSE(r.is_host());
}

TEST_CASE("open reads and creates files inside the root", "[root]") {
  TempDir t;
  t.write("etc/hostname", "vm1\n");
  Root r = t.root();
  auto fd = r.open("/etc/hostname", O_RDONLY);
  REQUIRE(fd);
  char buf[8] = {};
  CHECK(::read(fd->get(), buf, sizeof buf) == 4);
  CHECK(std::string(buf, 4) == "vm1\n");

  auto created = r.open("/etc/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
  REQUIRE(created);
  CHECK(fs::exists(t.path() / "etc/new"));
  CHECK(r.open("/etc/missing", O_RDONLY).error().code == std::errc::no_such_file_or_directory);
  // An intermediate regular file is not a directory.
  CHECK(r.open("/etc/hostname/x", O_RDONLY).error().code == std::errc::not_a_directory);
}

TEST_CASE("dot-dot cannot escape through open, resolve or mkdirs", "[root]") {
  TempDir outside;
  outside.write("secret", "s");
  TempDir t;
  fs::create_directories(t.path() / "etc");
  Root r = t.root();
  // However many levels, ".." stops being allowed at the root.
  std::string climb = "/etc";
  for (int i = 0; i < 12; ++i) climb += "/..";
  climb += outside.path().string() + "/secret";
  auto fd = r.open(climb, O_RDONLY);
  REQUIRE_FALSE(fd);
  CHECK(fd.error().code == Errc::escapes_root);
  CHECK(r.resolve("/etc/../../x").error().code == Errc::escapes_root);
  CHECK(r.mkdirs("/etc/../../evil").error().code == Errc::escapes_root);
  CHECK_FALSE(fs::exists(t.path().parent_path() / "evil"));
}

TEST_CASE("absolute symlinks are re-anchored at the root", "[root]") {
  TempDir t;
  t.write("usr/share/motd", "from the image\n");
  t.write("etc/passwd", "image passwd\n");
  fs::create_directories(t.path() / "etc");
  fs::create_symlink("/usr/share/motd", t.path() / "etc/motd");
  // A link to the *host's* /etc/passwd must land on the image's own /etc/passwd.
  fs::create_symlink("/etc/passwd", t.path() / "etc/passwd-link");
  Root r = t.root();
  CHECK(*r.resolve("/etc/motd") == "/usr/share/motd");
  auto fd = r.open("/etc/passwd-link", O_RDONLY);
  REQUIRE(fd);
  char buf[32] = {};
  auto n = ::read(fd->get(), buf, sizeof buf);
  CHECK(std::string(buf, static_cast<std::size_t>(n)) == "image passwd\n");
}

TEST_CASE("relative symlinks that climb out of the root are refused", "[root]") {
  TempDir t;
  fs::create_directories(t.path() / "srv");
  fs::create_symlink("../../../../../../../../../../tmp", t.path() / "srv/data");
  fs::create_symlink("../etc", t.path() / "srv/cfg");  // stays inside: fine
  fs::create_directories(t.path() / "etc");
  Root r = t.root();
  CHECK(r.open("/srv/data/x", O_RDONLY).error().code == Errc::escapes_root);
  CHECK(r.resolve("/srv/data/x").error().code == Errc::escapes_root);
  CHECK(r.open("/srv/data", O_RDONLY).error().code == Errc::escapes_root);
  CHECK(*r.resolve("/srv/cfg/x") == "/etc/x");
}

TEST_CASE("Follow::never refuses a symlink anywhere on the path", "[root]") {
  TempDir t;
  TempDir elsewhere;
  fs::create_directories(t.path() / "home/admin");
  fs::create_directories(t.path() / "srv");
  // The classic attack: ~admin/.ssh pointing at root's directory.
  fs::create_directories(t.path() / "root/.ssh");
  fs::create_symlink("/root/.ssh", t.path() / "home/admin/.ssh");
  fs::create_symlink(elsewhere.path(), t.path() / "srv/data");
  Root r = t.root();

  auto w = r.open("/home/admin/.ssh/authorized_keys", O_WRONLY | O_CREAT, 0600, Follow::never);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == Errc::symlink_refused);
  CHECK_FALSE(fs::exists(t.path() / "root/.ssh/authorized_keys"));

  // A planted symlink as the last component, with O_CREAT: never written through.
  auto m = r.open("/srv/data", O_WRONLY | O_CREAT, 0600, Follow::never);
  CHECK(m.error().code == Errc::symlink_refused);
  CHECK(r.mkdirs("/srv/data/sub", 0755, Follow::never).error().code == Errc::symlink_refused);
  CHECK(fs::is_empty(elsewhere.path()));
  CHECK(r.resolve("/srv/data", Follow::never).error().code == Errc::symlink_refused);
}

TEST_CASE("symlink loops end with ELOOP", "[root]") {
  TempDir t;
  fs::create_directories(t.path() / "a");
  fs::create_symlink("/a/l2", t.path() / "a/l1");
  fs::create_symlink("/a/l1", t.path() / "a/l2");
  Root r = t.root();
  CHECK(r.open("/a/l1", O_RDONLY).error().code == std::errc::too_many_symbolic_link_levels);
  CHECK(r.open("/a/l1/x", O_RDONLY).error().code == std::errc::too_many_symbolic_link_levels);
}

TEST_CASE("O_DIRECTORY on a symlink to a directory follows it inside the root", "[root]") {
  TempDir t;
  fs::create_directories(t.path() / "real");
  fs::create_symlink("/real", t.path() / "link");
  Root r = t.root();
  CHECK(r.open("/link", O_PATH | O_DIRECTORY));
  CHECK(r.open("/link", O_PATH | O_DIRECTORY, 0, Follow::never).error().code == Errc::symlink_refused);
}

TEST_CASE("mkdirs creates missing levels with the mode asked", "[root]") {
  TempDir t;
  Root r = t.root();
  mode_t old = ::umask(0);
  auto d = r.mkdirs("/run/guestkit/lock", 0700);
  ::umask(old);
  REQUIRE(d);
  CHECK(fs::is_directory(t.path() / "run/guestkit/lock"));
  struct stat st {};
  REQUIRE(::stat((t.path() / "run/guestkit/lock").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  CHECK(r.mkdirs("/run/guestkit/lock", 0700));  // idempotent
}

TEST_CASE("lstat, stat, list_dir and read_link", "[root]") {
  TempDir t;
  t.write("d/b", "");
  t.write("d/a", "");
  t.write("d/c10", "");
  fs::create_symlink("/d/a", t.path() / "d/link");
  Root r = t.root();
  auto l = r.lstat("/d/link");
  REQUIRE(l);
  REQUIRE(l->has_value());
  CHECK(S_ISLNK((*l)->st_mode));
  auto s = r.stat("/d/link");
  REQUIRE(s);
  REQUIRE(s->has_value());
  CHECK(S_ISREG((*s)->st_mode));
  CHECK_FALSE(r.stat("/d/none")->has_value());
  CHECK(*r.list_dir("/d") == std::vector<std::string>{"a", "b", "c10", "link"});
  CHECK(r.list_dir("/nope")->empty());
  CHECK(*r.read_link("/d/link") == "/d/a");
  CHECK(r.lstat("/")->has_value());
}

TEST_CASE("Root::open of a missing prefix fails clearly", "[root]") {
  auto r = Root::open("/nonexistent/guestkit-root");
  REQUIRE_FALSE(r);
  CHECK(r.error().message().find("/nonexistent/guestkit-root") != std::string::npos);
}
