// What a killed useradd leaves behind, repaired: stale shadow-utils lock files, an
// account in /etc/passwd without its shadow entry, primary group or gshadow entry,
// and a missing home (guestkit creates homes itself, whole or not at all).

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/provision/accounts.hpp"

namespace guestkit::plugins::provision {
namespace {

constexpr std::size_t kAccountsLimit = 16u << 20;
constexpr int kMaxSkelDepth = 32;

std::optional<long long> number(std::string_view text, int base = 10) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::vector<std::string> fields(const std::string& line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto at = line.find(':', start);
    out.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

// Whether `file` (a guest path) has a line whose first field is `name`; nullopt when
// the file does not exist (an image without shadow passwords).
core::Result<std::optional<bool>> has_entry(const core::Root& root, const char* file,
                                            const std::string& name) {
  auto text = core::read_file_if_exists(root, file, kAccountsLimit, core::Follow::never);
  if (!text) return std::move(text).error();
  if (!*text) return std::optional<bool>{};
  for (const auto& line : core::split_lines(**text))
    if (line.starts_with(name + ":")) return std::optional<bool>(true);
  return std::optional<bool>(false);
}

std::vector<std::string> root_args(const core::Root& root) {
  if (root.is_host()) return {};
  return {"--root", root.prefix().string()};
}

core::Status tool_with_root(const core::Root& root, std::vector<std::string> argv,
                            std::vector<std::string> tail = {}) {
  for (auto& a : root_args(root)) argv.push_back(std::move(a));
  for (auto& a : tail) argv.push_back(std::move(a));
  if (auto r = core::run_tool(argv); !r) return std::move(r).error();
  return {};
}

// The process `pid` holds a lock written at `written` (seconds since the epoch):
// it exists, is not a zombie, and started no later than the lock was written (a
// process that started afterwards got a recycled pid, typically after a reboot).
bool holder_alive(long long pid, time_t written) {
  const core::Root host = core::Root::host();
  const std::string dir = std::string(core::paths::kProcDir) + "/" + std::to_string(pid);
  auto stat_text = core::read_file_if_exists(host, dir + "/stat", 4096);
  if (!stat_text || !*stat_text) return false;
  const std::string& s = **stat_text;
  const auto paren = s.rfind(')');
  if (paren == std::string::npos || paren + 2 >= s.size()) return false;
  const char state = s[paren + 2];
  if (state == 'Z' || state == 'X') return false;
  // Field 22, starttime (clock ticks after boot); fields counted from the state (3).
  std::size_t pos = paren + 2;
  for (int field = 3; field < 22 && pos != std::string::npos; ++field) pos = s.find(' ', pos + 1);
  if (pos == std::string::npos) return true;
  const auto start_ticks = number(s.substr(pos + 1, s.find(' ', pos + 1) - pos - 1));
  auto proc_stat =
      core::read_file_if_exists(host, std::string(core::paths::kProcDir) + "/stat", 1 << 20);
  if (!start_ticks || !proc_stat || !*proc_stat) return true;
  const auto btime_at = (**proc_stat).find("\nbtime ");
  if (btime_at == std::string::npos) return true;
  const std::string btime_text = (**proc_stat).substr(btime_at + 7, 20);
  const auto btime = number(btime_text.substr(0, btime_text.find('\n')));
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (!btime || hz <= 0) return true;
  const long long started = *btime + *start_ticks / hz;
  return started <= static_cast<long long>(written) + 1;  // 1 s: starttime is rounded down
}

// Removes the name `leaf` in `dir` and everything below it, never following a link.
void remove_tree_at(int dir, const std::string& leaf, int depth = 0) {
  struct stat st {};
  if (::fstatat(dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode) && depth < kMaxSkelDepth + 2) {
    const int fd = ::openat(dir, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      if (DIR* d = ::fdopendir(fd)) {
        std::vector<std::string> names;
        while (const dirent* e = ::readdir(d))
          if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
            names.emplace_back(e->d_name);
        for (const auto& name : names) remove_tree_at(::dirfd(d), name, depth + 1);
        ::closedir(d);
      } else {
        ::close(fd);
      }
    }
    ::unlinkat(dir, leaf.c_str(), AT_REMOVEDIR);
  } else {
    ::unlinkat(dir, leaf.c_str(), 0);
  }
}

// Copies the directory `from` into `to` (both open), entries owned by uid:gid, modes
// kept without set-id bits; regular files, directories and symlinks only.
core::Status copy_skel(int from, int to, uid_t uid, gid_t gid, int depth) {
  if (depth > kMaxSkelDepth) return core::make_error(core::Errc::bad_input, "skeleton too deep");
  const int listing = ::openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return core::errno_error("read the skeleton directory");
  DIR* d = ::fdopendir(listing);
  if (!d) {
    ::close(listing);
    return core::errno_error("read the skeleton directory");
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& name : names) {
    struct stat st {};
    if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return core::errno_error("stat skeleton entry " + name);
    const mode_t mode = st.st_mode & 01777;
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(to, name.c_str(), 0700) != 0) return core::errno_error("mkdir " + name);
      core::UniqueFd src(
          ::openat(from, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      core::UniqueFd dst(
          ::openat(to, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!src || !dst) return core::errno_error("open " + name);
      if (auto ok = copy_skel(src.get(), dst.get(), uid, gid, depth + 1); !ok) return ok;
      if (::fchown(dst.get(), uid, gid) != 0 || ::fchmod(dst.get(), mode) != 0)
        return core::errno_error("set the owner of " + name);
      if (::fsync(dst.get()) != 0) return core::errno_error("sync " + name);
    } else if (S_ISREG(st.st_mode)) {
      core::UniqueFd src(::openat(from, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!src) return core::errno_error("open skeleton file " + name);
      core::UniqueFd dst(
          ::openat(to, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!dst) return core::errno_error("create " + name);
      char buf[65536];
      for (;;) {
        const ssize_t n = ::read(src.get(), buf, sizeof buf);
        if (n < 0) return core::errno_error("read skeleton file " + name);
        if (n == 0) break;
        for (ssize_t done = 0; done < n;) {
          const ssize_t w = ::write(dst.get(), buf + done, static_cast<std::size_t>(n - done));
          if (w < 0) return core::errno_error("write " + name);
          done += w;
        }
      }
      if (::fchown(dst.get(), uid, gid) != 0 || ::fchmod(dst.get(), mode) != 0)
        return core::errno_error("set the owner of " + name);
      if (::fsync(dst.get()) != 0) return core::errno_error("sync " + name);
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      const ssize_t n = ::readlinkat(from, name.c_str(), target, sizeof target - 1);
      if (n < 0) return core::errno_error("read link " + name);
      target[n] = '\0';
      if (::symlinkat(target, to, name.c_str()) != 0 ||
          ::fchownat(to, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        return core::errno_error("link " + name);
    }  // sockets, fifos, devices: useradd skips them too
  }
  return {};
}

}  // namespace

core::Status clear_stale_shadow_locks(const core::Root& root) {
  for (const char* file :
       {core::paths::kPasswd, core::paths::kShadow, core::paths::kGroup, core::paths::kGshadow}) {
    const std::string lock = std::string(file) + ".lock";
    auto parent = root.open_parent(lock, core::Follow::never);
    if (!parent) return std::move(parent).error();
    core::UniqueFd fd(::openat(parent->dir.get(), parent->leaf.c_str(),
                               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return core::errno_error("open " + root.display(lock));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    char text[32] = {};
    const ssize_t n = ::read(fd.get(), text, sizeof text - 1);
    std::string_view pid_text(text, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid_text.empty() && (pid_text.back() == '\0' || pid_text.back() == '\n'))
      pid_text.remove_suffix(1);
    const auto pid = number(pid_text);
    if (pid && *pid > 0 && holder_alive(*pid, st.st_mtime)) continue;
    // shadow-utils clears a lock whose process is gone itself, but not one whose pid
    // now names a zombie or, after a reboot, another process: its owner was killed.
    if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) != 0 && errno != ENOENT)
      return core::errno_error("remove the stale lock " + root.display(lock));
    core::log_debug("removed the stale lock ", root.display(lock), " (pid ", std::string(pid_text),
                    ")");
  }
  return {};
}

core::Status repair_account(const core::Root& root, const Account& account) {
  // useradd writes passwd, shadow, group, gshadow in that order; killed in between,
  // the user exists without the rest. A password set with no shadow entry would go
  // into world-readable /etc/passwd: the entry comes first.
  auto shadowed = has_entry(root, core::paths::kShadow, account.name);
  if (!shadowed) return std::move(shadowed).error();
  if (*shadowed && !**shadowed) {
    if (auto ok = tool_with_root(root, {"pwconv"}); !ok) return ok;
  }
  auto groups = core::read_file(root, core::paths::kGroup, kAccountsLimit, core::Follow::never);
  if (!groups) return std::move(groups).error();
  bool gid_known = false;
  std::string group_name;  // of the primary gid
  for (const auto& line : core::split_lines(*groups)) {
    const auto f = fields(line);
    if (f.size() < 3) continue;
    if (number(f[2]) == static_cast<long long>(account.gid)) {
      gid_known = true;
      group_name = f[0];
      break;
    }
  }
  if (!gid_known) {
    if (auto ok = tool_with_root(root, {"groupadd", "--gid", std::to_string(account.gid)},
                                 {"--", account.name});
        !ok)
      return ok;
    group_name = account.name;
  }
  auto gshadowed = has_entry(root, core::paths::kGshadow, group_name);
  if (!gshadowed) return std::move(gshadowed).error();
  if (*gshadowed && !**gshadowed) {
    if (auto ok = tool_with_root(root, {"grpconv"}); !ok) return ok;
  }
  return {};
}

mode_t home_mode(const core::Root& root) {
  // useradd -m: HOME_MODE from login.defs, else 0777 & ~UMASK (022 when unset).
  std::optional<long long> home, umask;
  auto text = core::read_file_if_exists(root, core::paths::kLoginDefs, 1 << 20);
  if (text && *text) {
    for (const auto& line : core::split_lines(**text)) {
      const auto key_end = line.find_first_of(" \t");
      if (key_end == std::string::npos || line.starts_with('#')) continue;
      const std::string key = line.substr(0, key_end);
      const auto v = line.find_first_not_of(" \t", key_end);
      if (v == std::string::npos) continue;
      const std::string value = line.substr(v, line.find_first_of(" \t", v) - v);
      if (key == "HOME_MODE") home = number(value, 8);
      if (key == "UMASK") umask = number(value, 8);
    }
  }
  if (home && *home >= 0 && *home <= 0777) return static_cast<mode_t>(*home);
  if (umask && *umask >= 0 && *umask <= 0777) return static_cast<mode_t>(0777 & ~*umask);
  return 0755;
}

core::Result<bool> ensure_home(const core::Root& root, const Account& account) {
  auto home = core::Root::normalize(account.home);
  if (!home || *home == "/")
    return core::make_error(core::Errc::bad_input,
                            account.name + ": home directory '" + account.home + "' is not usable");
  const auto slash = home->rfind('/');
  const std::string dir = slash == 0 ? "/" : home->substr(0, slash);
  const std::string leaf = home->substr(slash + 1);
  // useradd makes missing parents root's, 0755; a link on the way must stay inside
  // the root (Root refuses an escape).
  auto parent = root.mkdirs(dir, 0755, core::Follow::in_root);
  if (!parent) return std::move(parent).error();
  struct stat st {};
  if (::fstatat(parent->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return false;  // useradd -m would keep it as it is too
    return core::make_error(core::Errc::bad_input,
                            root.display(*home) + " exists and is not a directory");
  }
  if (errno != ENOENT) return core::errno_error("stat " + root.display(*home));

  // Built under a temporary name and renamed into place: killed at any point, the
  // home is either absent (and the leftover goes at the next try) or complete.
  const std::string temp = core::staging_name(leaf, "home");
  remove_tree_at(parent->get(), temp);
  if (::mkdirat(parent->get(), temp.c_str(), 0700) != 0)
    return core::errno_error("create " + root.display(dir + "/" + temp));
  core::UniqueFd made(
      ::openat(parent->get(), temp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!made) return core::errno_error("open " + root.display(dir + "/" + temp));
  auto skel = root.open(core::paths::kSkelDir, O_RDONLY | O_DIRECTORY, 0, core::Follow::in_root);
  core::Status copied;
  if (skel) {
    copied = copy_skel(skel->get(), made.get(), account.uid, account.gid, 0);
  } else if (skel.error().code != std::errc::no_such_file_or_directory) {
    copied = std::move(skel).error();
  }
  if (copied && (::fchown(made.get(), account.uid, account.gid) != 0 ||
                 ::fchmod(made.get(), home_mode(root)) != 0))
    copied = core::errno_error("set the owner of " + root.display(*home));
  // Each copied file and directory was fsync'ed as it was made (a symlink is durable
  // with its directory); the home's own directory last. syncfs() gave the same
  // guarantee by flushing the whole filesystem: on a first boot under TCG that took
  // ~10 s of the seed's critical path (bench/README.md, seed-first-boot).
  if (copied && ::fsync(made.get()) != 0)
    copied = core::errno_error("sync " + root.display(*home));
  if (copied &&
      ::renameat2(parent->get(), temp.c_str(), parent->get(), leaf.c_str(), RENAME_NOREPLACE) != 0)
    copied = core::errno_error("rename into " + root.display(*home));
  if (!copied) {
    remove_tree_at(parent->get(), temp);
    return std::move(copied).error();
  }
  if (core::UniqueFd sync(::openat(parent->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)); sync)
    ::fsync(sync.get());
  if (root.is_host()) {
    // The new home gets its SELinux label, as useradd -m gives it (no-op elsewhere).
    if (const auto restorecon = core::find_program("restorecon"))
      if (auto res = core::run_tool({*restorecon, "-R", *home}); !res)
        core::log_debug(res.error().message(), ", ignoring");
  }
  return true;
}

}  // namespace guestkit::plugins::provision
