// Holders of a disk: see holders.hpp.

#include "plugins/disk/holders.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins::disk {
namespace {

constexpr std::size_t kMapsLimit = 8 << 20;

bool in(const std::vector<dev_t>& devnos, dev_t d) {
  return std::find(devnos.begin(), devnos.end(), d) != devnos.end();
}

// A small /proc file through the process directory's descriptor.
std::string read_at(int dir, const char* name, std::size_t limit) {
  core::UniqueFd fd(::openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return {};
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > limit) break;
  }
  return text;
}

// The magic links follow to the file itself: stat's st_dev is its filesystem's.
bool link_on(int dir, const char* name, const std::vector<dev_t>& devnos) {
  struct stat st {};
  return ::fstatat(dir, name, &st, 0) == 0 && in(devnos, st.st_dev);
}

bool fds_on(int pid_dir, const std::vector<dev_t>& devnos) {
  int fd = ::openat(pid_dir, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return false;
  }
  bool found = false;
  while (auto* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (link_on(::dirfd(d), e->d_name, devnos)) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

std::map<uid_t, std::string> user_names(const core::Root& root) {
  std::map<uid_t, std::string> out;
  auto text = core::read_file(root, core::paths::kPasswd, 4 << 20, core::Follow::never);
  if (!text) return out;
  for (const auto& line : core::split_lines(*text)) {
    const auto a = line.find(':');
    if (a == std::string::npos) continue;
    const auto b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const auto c = line.find(':', b + 1);
    if (c == std::string::npos) continue;
    uid_t uid = 0;
    const auto [p, ec] = std::from_chars(line.data() + b + 1, line.data() + c, uid);
    if (ec == std::errc{} && p == line.data() + c) out.emplace(uid, line.substr(0, a));
  }
  return out;
}

uid_t uid_of_status(const std::string& status) {
  for (const auto& line : core::split_lines(status)) {
    if (!line.starts_with("Uid:")) continue;
    std::size_t i = 4;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    uid_t uid = 0;
    std::from_chars(line.data() + i, line.data() + line.size(), uid);
    return uid;
  }
  return static_cast<uid_t>(-1);
}

}  // namespace

std::string unit_of_cgroup(const std::string& text) {
  std::string path;
  for (const auto& line : core::split_lines(text)) {
    if (line.starts_with("0::")) {
      path = line.substr(3);
      break;
    }
    const auto at = line.find(":name=systemd:");
    if (at != std::string::npos) path = line.substr(at + 14);
  }
  // The innermost .service (or .scope) component: a service's own sub-cgroups sit below it.
  std::string unit;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.ends_with(".service") || part.ends_with(".scope")) unit = part;
    start = end + 1;
  }
  return unit;
}

std::vector<dev_t> mapped_devices(const std::string& maps) {
  std::vector<dev_t> out;
  for (const auto& line : core::split_lines(maps)) {
    // address perms offset dev inode path
    std::size_t pos = 0;
    for (int field = 0; field < 3 && pos != std::string::npos; ++field) {
      pos = line.find(' ', pos);
      if (pos != std::string::npos) ++pos;
    }
    if (pos == std::string::npos) continue;
    const auto colon = line.find(':', pos);
    const auto space = line.find(' ', pos);
    if (colon == std::string::npos || space == std::string::npos || colon > space) continue;
    unsigned maj = 0, min = 0;
    auto r1 = std::from_chars(line.data() + pos, line.data() + colon, maj, 16);
    auto r2 = std::from_chars(line.data() + colon + 1, line.data() + space, min, 16);
    if (r1.ec != std::errc{} || r2.ec != std::errc{}) continue;
    if (maj == 0 && min == 0) continue;  // anonymous memory
    const dev_t d = makedev(maj, min);
    if (!in(out, d)) out.push_back(d);
  }
  return out;
}

std::vector<ProcessHolder> find_process_holders(const core::Root& root,
                                                const std::vector<dev_t>& devnos) {
  std::vector<ProcessHolder> out;
  if (devnos.empty()) return out;
  auto proc = root.open(core::paths::kProcDir, O_RDONLY | O_DIRECTORY, 0, core::Follow::never);
  if (!proc) return out;
  DIR* d = ::fdopendir(proc->release());
  if (!d) return out;
  const pid_t self = ::getpid();
  std::map<uid_t, std::string> users;
  bool users_read = false;
  while (auto* e = ::readdir(d)) {
    pid_t pid = 0;
    const std::string_view name(e->d_name);
    const auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc{} || p != name.data() + name.size() || pid <= 0 || pid == self) continue;
    core::UniqueFd dir(::openat(::dirfd(d), e->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) continue;
    ProcessHolder h;
    h.pid = pid;
    if (fds_on(dir.get(), devnos)) h.uses.push_back("fd");
    if (link_on(dir.get(), "cwd", devnos)) h.uses.push_back("cwd");
    if (link_on(dir.get(), "root", devnos)) h.uses.push_back("root");
    for (dev_t m : mapped_devices(read_at(dir.get(), "maps", kMapsLimit)))
      if (in(devnos, m)) {
        h.uses.push_back("mmap");
        break;
      }
    if (h.uses.empty()) continue;
    h.comm = read_at(dir.get(), "comm", 256);
    while (!h.comm.empty() && h.comm.back() == '\n') h.comm.pop_back();
    h.uid = uid_of_status(read_at(dir.get(), "status", 64 << 10));
    if (!users_read) {
      users = user_names(root);
      users_read = true;
    }
    auto u = users.find(h.uid);
    h.user = u != users.end() ? u->second : std::to_string(h.uid);
    h.unit = unit_of_cgroup(read_at(dir.get(), "cgroup", 64 << 10));
    out.push_back(std::move(h));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const ProcessHolder& a, const ProcessHolder& b) { return a.pid < b.pid; });
  return out;
}

}  // namespace guestkit::plugins::disk
