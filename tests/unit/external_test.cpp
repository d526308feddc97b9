// External programs (plugins.d, hooks, postboot): opened once through the Root,
// checked on the descriptor with every directory above them (sshd's StrictModes
// walk), and that very inode executed. A swap of the file or of a directory above it
// between the check and the run must not make the replacement run.

#include "plugins/external.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "core/exec.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

// Appends its name and arguments to $GUESTKIT_ROOT/ran.
std::string script(const std::string& name) {
  return "#!/bin/sh\necho \"" + name + " $*\" >> \"$GUESTKIT_ROOT/ran\"\n";
}

std::string ran(const TempDir& t) {
  return fs::exists(t.path() / "ran") ? t.read("ran") : std::string();
}

}  // namespace

TEST_CASE("external program: a real #! script runs from its descriptor, with its arguments",
          "[external]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", script("original"), 0755);
  gc::Context ctx(t.root(), gc::Config{});
  auto exe = gp::open_executable(ctx.root, "/etc/guestkit/hooks/post-vm-config");
  REQUIRE(exe.problem == "");
  auto r = gp::run_executable(ctx, "hook", exe, {"a b", "c"}, {});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(ran(t) == "original a b c\n");
  // run_hook does the same, by name.
  auto h = gp::run_hook(ctx, "post-vm-config", {"x"});
  REQUIRE(h);
  CHECK(*h);
  CHECK(ran(t) == "original a b c\noriginal x\n");
}

TEST_CASE("external program: the file swapped after the check does not run", "[external]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", script("original"), 0755);
  gc::Context ctx(t.root(), gc::Config{});
  auto exe = gp::open_executable(ctx.root, "/etc/guestkit/hooks/post-vm-config");
  REQUIRE(exe.problem == "");
  // Between the check and the run, the name gets another (equally "safe") file.
  t.write("etc/guestkit/hooks/.new", script("replacement"), 0755);
  fs::rename(t.path() / "etc/guestkit/hooks/.new", t.path() / "etc/guestkit/hooks/post-vm-config");
  auto head = gp::read_head(exe, 200);  // what a caller inspects is the original too
  REQUIRE(head);
  CHECK(head->find("original") != std::string::npos);
  auto r = gp::run_executable(ctx, "hook", exe, {}, {});
  CHECK(r.ok);
  CHECK(ran(t) == "original \n");
}

TEST_CASE("external program: the parent directory swapped after the check changes nothing",
          "[external]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", script("original"), 0755);
  gc::Context ctx(t.root(), gc::Config{});
  auto exe = gp::open_executable(ctx.root, "/etc/guestkit/hooks/post-vm-config");
  REQUIRE(exe.problem == "");
  fs::rename(t.path() / "etc/guestkit/hooks", t.path() / "etc/guestkit/hooks.old");
  t.write("etc/guestkit/hooks/post-vm-config", script("replacement"), 0755);
  auto r = gp::run_executable(ctx, "hook", exe, {}, {});
  CHECK(r.ok);
  CHECK(ran(t) == "original \n");

  // Or a symlink to somewhere else in its place: the same.
  fs::remove_all(t.path() / "etc/guestkit/hooks");
  t.write("elsewhere/post-vm-config", script("replacement"), 0755);
  fs::create_directory_symlink(t.path() / "elsewhere", t.path() / "etc/guestkit/hooks");
  r = gp::run_executable(ctx, "hook", exe, {}, {});
  CHECK(r.ok);
  CHECK(ran(t) == "original \noriginal \n");
}

TEST_CASE("external program: every directory above it must be root's and not group/other writable",
          "[external]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", script("original"), 0755);
  gc::Context ctx(t.root(), gc::Config{});
  const std::string hook = "/etc/guestkit/hooks/post-vm-config";
  REQUIRE(gp::executable_problem(ctx.root, hook) == "");

  for (const char* dir : {"etc", "etc/guestkit", "etc/guestkit/hooks", ""}) {
    INFO(dir);
    const auto path = t.path() / dir;
    for (mode_t mode : {0775, 0757, 01777}) {
      INFO(mode);
      REQUIRE(::chmod(path.c_str(), mode) == 0);
      CHECK_THAT(
          gp::executable_problem(ctx.root, hook),
          Catch::Contains("unsafe: directory") && Catch::Contains("writable by group or others"));
      auto h = gp::run_hook(ctx, "post-vm-config", {});
      CHECK_FALSE(h);
    }
    REQUIRE(::chmod(path.c_str(), 0755) == 0);
    if (::geteuid() == 0) {  // only root can give a directory away
      REQUIRE(::chown(path.c_str(), 4321, 0) == 0);
      CHECK(gp::executable_problem(ctx.root, hook).find("is owned by uid 4321") !=
            std::string::npos);
      CHECK_FALSE(gp::run_hook(ctx, "post-vm-config", {}));
      REQUIRE(::chown(path.c_str(), 0, 0) == 0);
    }
  }
  CHECK(ran(t) == "");  // nothing ran while a directory was unsafe
  CHECK(gp::executable_problem(ctx.root, hook) == "");

  // A symlinked hook: the directories above its target count too.
  t.write("opt/hooks/real", script("linked"), 0755);
  fs::remove(t.path() / "etc/guestkit/hooks/post-vm-config");
  fs::create_symlink("/opt/hooks/real", t.path() / "etc/guestkit/hooks/post-vm-config");
  CHECK(gp::executable_problem(ctx.root, hook) == "");
  REQUIRE(::chmod((t.path() / "opt/hooks").c_str(), 0777) == 0);
  CHECK_THAT(gp::executable_problem(ctx.root, hook), Catch::Contains("opt/hooks is writable"));
  REQUIRE(::chmod((t.path() / "opt/hooks").c_str(), 0755) == 0);
  auto h = gp::run_hook(ctx, "post-vm-config", {"y"});
  REQUIRE(h);
  CHECK(ran(t) == "linked y\n");
}

TEST_CASE("external program: a script without #! runs only through an interpreter", "[external]") {
  TempDir t;
  t.write("etc/guestkit/hooks/post-vm-config", "echo \"bare $*\" >> \"$GUESTKIT_ROOT/ran\"\n",
          0755);
  gc::Context ctx(t.root(), gc::Config{});
  auto exe = gp::open_executable(ctx.root, "/etc/guestkit/hooks/post-vm-config");
  REQUIRE(exe.problem == "");
  auto head = gp::read_head(exe, 2);
  REQUIRE(head);
  CHECK(*head == "ec");  // no "#!": the caller picks an interpreter
  auto r = gp::run_executable(ctx, "hook", exe, {"1"}, {});
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.message, Catch::Contains("Exec format error"));
  exe.interpreter = {"sh"};
  r = gp::run_executable(ctx, "hook", exe, {"2"}, {});
  INFO(r.message);
  CHECK(r.ok);
  CHECK(ran(t) == "bare 2\n");
}

TEST_CASE("external program: masked, missing and unsafe files are reported, not run",
          "[external]") {
  TempDir t;
  gc::Context ctx(t.root(), gc::Config{});
  CHECK(gp::executable_problem(ctx.root, "/etc/guestkit/hooks/x") == "missing");
  t.write("etc/guestkit/hooks/w", script("w"), 0757);
  CHECK(gp::executable_problem(ctx.root, "/etc/guestkit/hooks/w") ==
        "unsafe: writable by group or others");
  t.write("etc/guestkit/hooks/n", script("n"), 0644);
  CHECK(gp::executable_problem(ctx.root, "/etc/guestkit/hooks/n") == "not executable");
  fs::create_symlink("/dev/null", t.path() / "etc/guestkit/hooks/m");
  CHECK(gp::executable_problem(ctx.root, "/etc/guestkit/hooks/m") ==
        "masked (symlink to /dev/null)");
  fs::create_symlink("/nowhere", t.path() / "etc/guestkit/hooks/d");
  CHECK(gp::executable_problem(ctx.root, "/etc/guestkit/hooks/d") == "dangling symlink");
  auto r = gp::run_external(ctx, "w", "/etc/guestkit/hooks/w", {}, {});
  CHECK_FALSE(r.ran);
  CHECK(r.message == "unsafe: writable by group or others");
  CHECK(ran(t) == "");
}

TEST_CASE("core::run_fd executes the descriptor it is given", "[exec][external]") {
  TempDir t;
  auto path = t.write("prog", "#!/bin/sh\necho \"$0 $1\"\n", 0755);
  gc::UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  REQUIRE(fd);
  fs::remove(path);  // gone by name: the inode still runs
  auto r = gc::run_fd(fd.get(), {"prog", "arg"});
  REQUIRE(r);
  CHECK(r->success());
  CHECK(r->out == "/proc/self/fd/3 arg\n");
  // The descriptor is the child's fd 3 only: nothing else leaks, and it stays ours.
  CHECK(::fcntl(fd.get(), F_GETFD) == FD_CLOEXEC);
}
