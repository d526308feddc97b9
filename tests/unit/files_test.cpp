// files: atomic writes, capped reads, line edits.

#include "core/files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <climits>
#include <filesystem>

#include "tests/support.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st;
}

std::size_t entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("write_file_atomic writes content with the exact mode", "[files]") {
  TempDir t;
  fs::create_directories(t.path() / "etc");
  auto r = t.root();
  core::WriteOptions o;
  o.mode = 0640;
  REQUIRE(core::write_file_atomic(r, "/etc/shadow-like", "secret\n", o));
  CHECK(t.read("etc/shadow-like") == "secret\n");
  CHECK((stat_of(t.path() / "etc/shadow-like").st_mode & 07777) == 0640);
  o.mode = 0600;
  REQUIRE(core::write_file_atomic(r, "/etc/shadow-like", "other\n", o));
  CHECK(t.read("etc/shadow-like") == "other\n");
  CHECK((stat_of(t.path() / "etc/shadow-like").st_mode & 07777) == 0600);
  CHECK(entries(t.path() / "etc") == 1);  // no temp file left behind
}

TEST_CASE("write_file_atomic sets owner and group", "[files]") {
  if (!guestkit::test::running_as_root()) GUESTKIT_SKIP("chown needs root");
  TempDir t;
  auto r = t.root();
  core::WriteOptions o;
  o.owner = 1234;
  o.group = 4321;
  o.mode = 0600;
  o.create_parents = true;
  REQUIRE(core::write_file_atomic(r, "/home/a/.ssh/authorized_keys", "k\n", o));
  auto st = stat_of(t.path() / "home/a/.ssh/authorized_keys");
  CHECK(st.st_uid == 1234);
  CHECK(st.st_gid == 4321);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("a crash in the middle of a write leaves the old file intact", "[files]") {
  TempDir t;
  t.write("etc/motd", "old content\n");
  auto r = t.root();
  const std::string big(1 << 20, 'x');
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The kernel kills us (SIGXFSZ) once the file passes 4 KiB: a real crash mid-write.
    struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    ::signal(SIGXFSZ, SIG_DFL);
    (void)core::write_file_atomic(r, "/etc/motd", big);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGXFSZ);
  CHECK(t.read("etc/motd") == "old content\n");
}

TEST_CASE("a failed write reports the error, keeps the old file, leaves no temp", "[files]") {
  TempDir t;
  t.write("etc/motd", "old content\n");
  auto r = t.root();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    ::signal(SIGXFSZ, SIG_IGN);  // now write(2) fails with EFBIG instead
    auto w = core::write_file_atomic(r, "/etc/motd", std::string(1 << 20, 'x'));
    ::_exit(!w && w.error().code == std::errc::file_too_large ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(t.read("etc/motd") == "old content\n");
  CHECK(entries(t.path() / "etc") == 1);
}

TEST_CASE("a symlink planted at the target is replaced, never written through", "[files]") {
  TempDir t;
  TempDir victim;
  victim.write("passwd", "precious\n");
  fs::create_directories(t.path() / "etc");
  fs::create_symlink(victim.path() / "passwd", t.path() / "etc/motd");
  auto r = t.root();
  REQUIRE(core::write_file_atomic(r, "/etc/motd", "hello\n"));
  CHECK(victim.read("passwd") == "precious\n");
  CHECK_FALSE(fs::is_symlink(t.path() / "etc/motd"));
  CHECK(t.read("etc/motd") == "hello\n");
}

TEST_CASE("write_file_atomic with Follow::never refuses a symlinked parent", "[files]") {
  TempDir t;
  TempDir victim;
  fs::create_directories(t.path() / "home/admin");
  fs::create_symlink(victim.path(), t.path() / "home/admin/.ssh");
  auto r = t.root();
  core::WriteOptions o;
  o.follow = core::Follow::never;
  auto w = core::write_file_atomic(r, "/home/admin/.ssh/authorized_keys", "k\n", o);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == core::Errc::symlink_refused);
  CHECK(fs::is_empty(victim.path()));
}

TEST_CASE("write_file_if_changed only writes on a real change", "[files]") {
  TempDir t;
  auto r = t.root();
  core::WriteOptions o;
  o.create_parents = true;
  CHECK(*core::write_file_if_changed(r, "/etc/x/y", "a\n", o) == true);
  auto ino = stat_of(t.path() / "etc/x/y").st_ino;
  CHECK(*core::write_file_if_changed(r, "/etc/x/y", "a\n", o) == false);
  CHECK(stat_of(t.path() / "etc/x/y").st_ino == ino);  // untouched
  o.mode = 0600;
  CHECK(*core::write_file_if_changed(r, "/etc/x/y", "a\n", o) == true);  // mode differs
  CHECK(*core::write_file_if_changed(r, "/etc/x/y", "b\n", o) == true);
  CHECK(t.read("etc/x/y") == "b\n");
}

TEST_CASE("read_file caps the size and refuses non-regular files", "[files]") {
  TempDir t;
  t.write("f", std::string(100, 'a'));
  auto r = t.root();
  CHECK(core::read_file(r, "/f")->size() == 100);
  CHECK(core::read_file(r, "/f", 100)->size() == 100);
  auto big = core::read_file(r, "/f", 99);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == std::errc::file_too_large);
  REQUIRE(::mkfifo((t.path() / "fifo").c_str(), 0600) == 0);
  CHECK(core::read_file(r, "/fifo").error().code == std::errc::invalid_argument);
  CHECK_FALSE(core::read_file_if_exists(r, "/missing")->has_value());
  CHECK(core::read_file(r, "/missing").error().code == std::errc::no_such_file_or_directory);
}

TEST_CASE("split_lines and join_lines", "[files]") {
  CHECK(core::split_lines("").empty());
  CHECK(core::split_lines("a\nb\n") == std::vector<std::string>{"a", "b"});
  CHECK(core::split_lines("a\n\nb") == std::vector<std::string>{"a", "", "b"});
  CHECK(core::join_lines({"a", "b"}) == "a\nb\n");
}

TEST_CASE("set_assignment replaces, dedupes, appends, keeps comments", "[files]") {
  std::vector<std::string> l{"# PermitRootLogin yes", "PermitRootLogin yes", "Port 22",
                             "PermitRootLogin no", "PermitRootLoginX 1"};
  core::set_assignment(l, "PermitRootLogin", "prohibit-password", " ");
  CHECK(l == std::vector<std::string>{"# PermitRootLogin yes", "PermitRootLogin prohibit-password",
                                      "Port 22", "PermitRootLoginX 1"});
  std::vector<std::string> s{"net.ipv4.ip_forward = 0", "vm.swappiness=60"};
  core::set_assignment(s, "vm.swappiness", "10", "=");
  core::set_assignment(s, "net.ipv4.ip_forward", "1", " = ");
  core::set_assignment(s, "kernel.panic", "10", "=");
  CHECK(s == std::vector<std::string>{"net.ipv4.ip_forward = 1", "vm.swappiness=10",
                                      "kernel.panic=10"});
}

TEST_CASE("ensure_line, remove_lines, replace_block", "[files]") {
  std::vector<std::string> l{"a"};
  core::ensure_line(l, "b");
  core::ensure_line(l, "a");
  CHECK(l == std::vector<std::string>{"a", "b"});
  CHECK(core::remove_lines(l, [](std::string_view x) { return x == "a"; }) == 1);
  CHECK(l == std::vector<std::string>{"b"});

  std::vector<std::string> h{"127.0.0.1 localhost", "# BEGIN guestkit", "old", "# END guestkit", "tail"};
  core::replace_block(h, "# BEGIN guestkit", "# END guestkit", {"new1", "new2"});
  CHECK(h == std::vector<std::string>{"127.0.0.1 localhost", "# BEGIN guestkit", "new1", "new2",
                                      "# END guestkit", "tail"});
  core::replace_block(h, "# BEGIN guestkit", "# END guestkit", {}, true);
  CHECK(h == std::vector<std::string>{"127.0.0.1 localhost", "tail"});
  core::replace_block(h, "# BEGIN guestkit", "# END guestkit", {"x"});
  CHECK(h.back() == "# END guestkit");
  CHECK(h.size() == 5);
}

TEST_CASE("edit_lines keeps mode, edits through in-root links, skips no-op edits", "[files]") {
  TempDir t;
  t.write("etc/real.conf", "a=1\n", 0600);
  fs::create_symlink("real.conf", t.path() / "etc/link.conf");
  auto r = t.root();
  auto changed = core::edit_lines(r, "/etc/link.conf", [](auto& lines) { core::set_assignment(lines, "a", "2"); });
  REQUIRE(changed);
  CHECK(*changed);
  CHECK(fs::is_symlink(t.path() / "etc/link.conf"));  // the link survives
  CHECK(t.read("etc/real.conf") == "a=2\n");
  CHECK((stat_of(t.path() / "etc/real.conf").st_mode & 07777) == 0600);
  auto again = core::edit_lines(r, "/etc/link.conf", [](auto& lines) { core::set_assignment(lines, "a", "2"); });
  CHECK(*again == false);
  auto fresh = core::edit_lines(r, "/etc/new.conf", [](auto& lines) { lines.push_back("x"); });
  CHECK(*fresh);
  CHECK(t.read("etc/new.conf") == "x\n");
  core::WriteOptions never;
  never.follow = core::Follow::never;
  auto refused = core::edit_lines(r, "/etc/link.conf", [](auto& lines) { lines.push_back("y"); }, never);
  CHECK(refused.error().code == core::Errc::symlink_refused);
}

namespace {

// Sets a file's mtime `age` into the past (lutimes: a symlink's own).
void age(const fs::path& p, std::chrono::seconds by) {
  struct timespec times[2];
  ::clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= by.count();
  times[1] = times[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

std::vector<std::string> temps_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (core::is_temp_name(e.path().filename().string())) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a writer killed mid-write leaves a temp file the next write sweeps", "[files][sweep]") {
  TempDir t;
  t.write("etc/hostname", "old\n");
  auto r = t.root();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    struct rlimit lim {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    ::signal(SIGXFSZ, SIG_DFL);  // killed by the kernel in the middle of the write
    (void)core::write_file_atomic(r, "/etc/hostname", std::string(1 << 20, 'x'));
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  auto left = temps_in(t.path() / "etc");
  REQUIRE(left.size() == 1);  // .hostname.gk-XXXXXXXXXXXXXXXX
  CHECK(left[0].rfind(".hostname.gk-", 0) == 0);

  // Young, it could be a live writer's between create and lock: kept.
  REQUIRE(core::write_file_atomic(r, "/etc/motd", "hello\n"));
  CHECK(temps_in(t.path() / "etc") == left);
  // Old, and its writer (dead) holds no lock: the next write in /etc removes it.
  age(t.path() / "etc" / left[0], std::chrono::minutes(5));
  REQUIRE(core::write_file_atomic(r, "/etc/motd", "hello again\n"));
  CHECK(temps_in(t.path() / "etc").empty());
  CHECK(t.read("etc/hostname") == "old\n");
}

TEST_CASE("the temp sweep removes only guestkit's stale temp files", "[files][sweep]") {
  TempDir t;
  const fs::path dir = t.path() / "etc/sudoers.d";
  const auto plant = [&](const std::string& name) {
    auto p = t.write("etc/sudoers.d/" + name, "stale\n", 0600);
    age(p, std::chrono::hours(1));
    return p;
  };
  plant(".90-guestkit-admin.gk-0123456789abcdef");  // ours, writer gone: goes
  plant(".hostname.gk-aaaaaaaaaaaaaaaa");           // ours, for another file: goes
  // A live writer's: it holds the flock.
  auto held_path = plant(".90-guestkit-admin.gk-2222222222222222");
  int held = ::open(held_path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  // Young: could be a writer between its create and its lock.
  t.write("etc/sudoers.d/.90-guestkit-admin.gk-1111111111111111", "new\n", 0600);
  // Not our pattern.
  plant(".90-guestkit-admin.gk-0123456789ABCDEF");
  plant(".90-guestkit-admin.gk-0123");
  plant("90-guestkit-admin.gk-0123456789abcdef");
  plant("README");
  // Our pattern, but not a file we could have left.
  fs::create_symlink("/etc/shadow", dir / ".link.gk-3333333333333333");
  age(dir / ".link.gk-3333333333333333", std::chrono::hours(1));
  fs::create_directory(dir / ".dir.gk-4444444444444444");
  age(dir / ".dir.gk-4444444444444444", std::chrono::hours(1));
  auto linked = plant(".linked.gk-5555555555555555");
  fs::create_hard_link(linked, t.path() / "etc/other-name");
  std::vector<std::string> foreign;
  if (::geteuid() == 0) {  // only root can plant another user's file
    auto p = plant(".foreign.gk-6666666666666666");
    REQUIRE(::chown(p.c_str(), 4321, 4321) == 0);
    foreign.push_back(".foreign.gk-6666666666666666");
  }

  auto removed = core::sweep_temp_files(t.root(), "/etc/sudoers.d");
  REQUIRE(removed);
  CHECK(*removed == std::vector<std::string>{".90-guestkit-admin.gk-0123456789abcdef",
                                             ".hostname.gk-aaaaaaaaaaaaaaaa"});
  for (const char* kept :
       {".90-guestkit-admin.gk-2222222222222222", ".90-guestkit-admin.gk-1111111111111111",
        ".90-guestkit-admin.gk-0123456789ABCDEF", ".90-guestkit-admin.gk-0123",
        "90-guestkit-admin.gk-0123456789abcdef", "README", ".link.gk-3333333333333333",
        ".dir.gk-4444444444444444", ".linked.gk-5555555555555555"}) {
    INFO(kept);
    CHECK(fs::exists(fs::symlink_status(dir / kept)));
  }
  for (const auto& f : foreign) CHECK(fs::exists(dir / f));
  if (::geteuid() == 0) {
    // In a user's own directory (~admin/.ssh), a temp left with the user as owner goes.
    auto home = t.path() / "home/admin/.ssh";
    fs::create_directories(home);
    REQUIRE(::chown(home.c_str(), 4321, 4321) == 0);
    auto p = t.write("home/admin/.ssh/.authorized_keys.gk-8888888888888888", "k\n", 0600);
    REQUIRE(::chown(p.c_str(), 4321, 4321) == 0);
    age(p, std::chrono::hours(1));
    auto swept = core::sweep_temp_files(t.root(), "/home/admin/.ssh");
    REQUIRE(swept);
    CHECK(*swept == std::vector<std::string>{".authorized_keys.gk-8888888888888888"});
  }

  // The writer of the sudoers file sweeps its directory first, under its own lock.
  plant(".90-guestkit-admin.gk-7777777777777777");
  REQUIRE(core::write_file_atomic(t.root(), "/etc/sudoers.d/90-guestkit-admin", "x\n"));
  CHECK_FALSE(fs::exists(dir / ".90-guestkit-admin.gk-7777777777777777"));
  CHECK(fs::exists(dir / ".90-guestkit-admin.gk-2222222222222222"));  // still locked
  ::close(held);  // its writer dies: the lock goes with it
  REQUIRE(core::write_file_atomic(t.root(), "/etc/sudoers.d/90-guestkit-admin", "y\n"));
  CHECK_FALSE(fs::exists(dir / ".90-guestkit-admin.gk-2222222222222222"));
  CHECK(t.read("etc/sudoers.d/90-guestkit-admin") == "y\n");
}

TEST_CASE("temp names: one pattern, random, within NAME_MAX, and fixed staging names",
          "[files][temp]") {
  const std::string a = core::temp_name("sshd_config"), b = core::temp_name("sshd_config");
  CHECK(a.rfind(".sshd_config.gk-", 0) == 0);
  CHECK(a.size() == std::string(".sshd_config.gk-").size() + 16);
  CHECK(a != b);
  // What the sweep removes is exactly what writers create.
  CHECK(core::is_temp_name(a));
  const std::string long_name = core::temp_name(std::string(255, 'n'));
  CHECK(long_name.size() <= NAME_MAX);
  CHECK(core::is_temp_name(long_name));
  // A staging directory's name is found again by the next try, and never swept.
  CHECK(core::staging_name("alice", "home") == ".alice.gk-home");
  CHECK(core::staging_name("alice", "home") == core::staging_name("alice", "home"));
  CHECK_FALSE(core::is_temp_name(core::staging_name("alice", "home")));
}
