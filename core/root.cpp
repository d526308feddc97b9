#include "core/root.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <deque>

#include "core/paths.hpp"

namespace guestkit::core {
namespace {

// Linux's own limit on symlink hops per lookup.
constexpr int kMaxSymlinkHops = 40;

Result<std::deque<std::string>> split_components(std::string_view guest) {
  if (guest.empty() || guest.front() != '/')
    return make_error(Errc::bad_input, "'" + std::string(guest) + "' is not an absolute path");
  if (guest.find('\0') != std::string_view::npos)
    return make_error(Errc::bad_input, "path contains a NUL byte");
  std::deque<std::string> parts;
  std::size_t i = 0;
  while (i < guest.size()) {
    while (i < guest.size() && guest[i] == '/') ++i;
    std::size_t j = guest.find('/', i);
    if (j == std::string_view::npos) j = guest.size();
    if (j > i) parts.emplace_back(guest.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::string join_guest(const std::vector<std::string>& names) {
  if (names.empty()) return "/";
  std::string out;
  for (const auto& n : names) out += "/" + n;
  return out;
}

Result<std::string> read_link_at(int dirfd, const char* name, const std::string& what) {
  std::string buf(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
    if (n < 0) return errno_error("readlink " + what);
    if (static_cast<std::size_t>(n) < buf.size()) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    if (buf.size() >= 65536) return make_error(std::make_error_code(std::errc::filename_too_long), "readlink " + what);
    buf.resize(buf.size() * 2);
  }
}

}  // namespace

// State of a component-by-component walk: a stack of O_PATH directory fds from the
// root down, with the guest names that reached them. ".." pops; popping the root
// itself is an escape.
struct Root::Walk {
  std::vector<UniqueFd> dirs;
  std::vector<std::string> names;  // names.size() == dirs.size() - 1
  std::string leaf;                // set by walk_parent: the unresolved last component
  int hops = 0;

  int top() const { return dirs.back().get(); }
  std::string guest_dir() const { return join_guest(names); }
};

Result<Root> Root::open(const std::filesystem::path& prefix) {
  std::error_code ec;
  auto canonical = std::filesystem::canonical(prefix, ec);
  if (ec) return make_error(ec, "root " + prefix.string());
  int fd = ::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("root " + canonical.string());
  return Root(canonical, std::make_shared<UniqueFd>(fd));
}

Root Root::host() {
  auto root = open("/");
  if (!root) std::abort();  // "/" always exists; nothing sane to do otherwise
  return std::move(root).value();
}

Result<std::string> Root::normalize(std::string_view guest) {
  auto parts = split_components(guest);
  if (!parts) return std::move(parts).error();
  std::vector<std::string> out;
  for (auto& p : *parts) {
    if (p == ".") continue;
    if (p == "..") {
      if (out.empty())
        return make_error(Errc::escapes_root, "'" + std::string(guest) + "'");
      out.pop_back();
      continue;
    }
    out.push_back(std::move(p));
  }
  return join_guest(out);
}

Result<std::filesystem::path> Root::host_path(std::string_view guest) const {
  auto norm = normalize(guest);
  if (!norm) return std::move(norm).error();
  if (is_host()) return std::filesystem::path(*norm);
  if (*norm == "/") return prefix_;
  return std::filesystem::path(prefix_.string() + *norm);
}

std::string Root::display(std::string_view guest) const {
  auto p = host_path(guest);
  return p ? p->string() : std::string(guest);
}

// Walks every component but the last, chasing symlinks per `follow`. The last
// component is left in walk.leaf (empty when the path is "/").
Result<Root::Walk> Root::walk_parent(std::string_view guest, Follow follow) const {
  auto parts_r = split_components(guest);
  if (!parts_r) return std::move(parts_r).error();
  std::deque<std::string> todo = std::move(parts_r).value();

  Walk w;
  int root_copy = ::fcntl(fd_->get(), F_DUPFD_CLOEXEC, 3);
  if (root_copy < 0) return errno_error("dup root fd");
  w.dirs.emplace_back(root_copy);

  auto reset_to_root = [&]() -> Status {
    w.dirs.resize(1);
    w.names.clear();
    return {};
  };

  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (w.dirs.size() == 1)
        return make_error(Errc::escapes_root, display(guest));
      w.dirs.pop_back();
      w.names.pop_back();
      continue;
    }
    // Skip trailing "." so "/a/b/." has leaf "b"; a trailing ".." was handled above
    // only if more components follow, so resolve it here too.
    bool last = std::all_of(todo.begin(), todo.end(), [](const std::string& s) { return s.empty() || s == "."; });
    if (last) {
      w.leaf = std::move(c);
      return w;
    }
    int fd = ::openat(w.top(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    std::string here = join_guest(w.names) == "/" ? "/" + c : join_guest(w.names) + "/" + c;
    if (fd < 0) return errno_error(display(here));
    UniqueFd cur(fd);
    struct stat st {};
    if (::fstat(cur.get(), &st) < 0) return errno_error("stat " + display(here));
    if (S_ISLNK(st.st_mode)) {
      if (follow == Follow::never) return make_error(Errc::symlink_refused, display(here));
      if (++w.hops > kMaxSymlinkHops)
        return make_error(std::make_error_code(std::errc::too_many_symbolic_link_levels), display(guest));
      auto target = read_link_at(cur.get(), "", display(here));
      if (!target) return std::move(target).error();
      if (target->empty()) return make_error(std::make_error_code(std::errc::no_such_file_or_directory), display(here));
      auto tparts = split_components(target->front() == '/' ? *target : "/" + *target);
      if (!tparts) return std::move(tparts).error();
      if (target->front() == '/') (void)reset_to_root();
      todo.insert(todo.begin(), tparts->begin(), tparts->end());
      continue;
    }
    if (!S_ISDIR(st.st_mode))
      return make_error(std::make_error_code(std::errc::not_a_directory), display(here));
    w.dirs.push_back(std::move(cur));
    w.names.push_back(std::move(c));
  }
  // Path was "/" (or only "." components): no leaf.
  return w;
}

Result<Root::Parent> Root::open_parent(std::string_view guest, Follow follow) const {
  auto w = walk_parent(guest, follow);
  if (!w) return std::move(w).error();
  if (w->leaf.empty())
    return make_error(Errc::bad_input, "'" + std::string(guest) + "' has no parent directory");
  Parent p;
  p.guest_dir = w->guest_dir();
  p.leaf = std::move(w->leaf);
  p.dir = std::move(w->dirs.back());
  return p;
}

Result<UniqueFd> Root::open(std::string_view guest_in, int flags, mode_t mode, Follow follow) const {
  std::string guest(guest_in);
  for (int hops = 0;; ++hops) {
    auto w = walk_parent(guest, follow);
    if (!w) return std::move(w).error();
    if (w->leaf.empty()) {
      int fd = ::openat(w->top(), ".", (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
      if (fd < 0) return errno_error(display("/"));
      return UniqueFd(fd);
    }
    std::string here = w->guest_dir() == "/" ? "/" + w->leaf : w->guest_dir() + "/" + w->leaf;
    int fd = ::openat(w->top(), w->leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    bool is_link = false;
    if (fd >= 0 && (flags & O_PATH)) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
        ::close(fd);
        fd = -1;
        is_link = true;
      }
    } else if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
      // O_NOFOLLOW on a link gives ELOOP, or ENOTDIR when O_DIRECTORY is set too.
      int err = errno;
      struct stat st {};
      is_link = ::fstatat(w->top(), w->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode);
      errno = err;
    }
    if (fd >= 0) return UniqueFd(fd);
    if (!is_link) return errno_error(display(here));
    if (follow == Follow::never) return make_error(Errc::symlink_refused, display(here));
    if (w->hops + hops >= kMaxSymlinkHops)
      return make_error(std::make_error_code(std::errc::too_many_symbolic_link_levels), display(guest));
    auto target = read_link_at(w->top(), w->leaf.c_str(), display(here));
    if (!target) return std::move(target).error();
    if (target->empty()) return make_error(std::make_error_code(std::errc::no_such_file_or_directory), display(here));
    guest = target->front() == '/' ? *target : w->guest_dir() + "/" + *target;
  }
}

Result<std::string> Root::resolve(std::string_view guest_in, Follow follow, bool must_exist) const {
  std::string guest(guest_in);
  for (int hops = 0;; ++hops) {
    auto w = walk_parent(guest, follow);
    if (!w) return std::move(w).error();
    if (w->leaf.empty()) return w->guest_dir();
    std::string here = w->guest_dir() == "/" ? "/" + w->leaf : w->guest_dir() + "/" + w->leaf;
    struct stat st {};
    if (::fstatat(w->top(), w->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT && !must_exist) return here;
      return errno_error(display(here));
    }
    if (!S_ISLNK(st.st_mode)) return here;
    if (follow == Follow::never) return make_error(Errc::symlink_refused, display(here));
    if (w->hops + hops >= kMaxSymlinkHops)
      return make_error(std::make_error_code(std::errc::too_many_symbolic_link_levels), display(guest));
    auto target = read_link_at(w->top(), w->leaf.c_str(), display(here));
    if (!target) return std::move(target).error();
    guest = !target->empty() && target->front() == '/' ? *target : w->guest_dir() + "/" + *target;
  }
}

Result<UniqueFd> Root::mkdirs(std::string_view guest, mode_t mode, Follow follow) const {
  auto norm = normalize(guest);
  if (!norm) return std::move(norm).error();
  // Create one level at a time from the top, so every directory is opened with
  // O_NOFOLLOW right after it is made: a link raced into place is refused, not used.
  auto parts = split_components(*norm);
  std::string path;
  UniqueFd last;
  if (parts->empty()) return open("/", O_PATH | O_DIRECTORY);
  for (const auto& c : *parts) {
    path += "/" + c;
    auto fd = open(path, O_PATH | O_DIRECTORY, 0, follow);
    if (!fd && fd.error().code == std::errc::no_such_file_or_directory) {
      auto parent = open_parent(path, follow);
      if (!parent) return std::move(parent).error();
      // guestkit's own top directories get one mode whoever creates them (the agent
      // wants a private lock/, the runner a readable record: not their parents' mode).
      const bool own = path == paths::kRunDir || path == paths::kStateDir;
      const mode_t want = own ? static_cast<mode_t>(paths::kOwnDirMode) : mode;
      if (::mkdirat(parent->dir.get(), parent->leaf.c_str(), want) < 0) {
        if (errno != EEXIST) return errno_error("mkdir " + display(path));
      } else if (own) {
        // Exactly that mode, whatever the umask: on the directory just made, opened
        // without following a link (one raced into its place is refused).
        UniqueFd made(::openat(parent->dir.get(), parent->leaf.c_str(),
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!made || ::fchmod(made.get(), want) < 0) return errno_error("chmod " + display(path));
      }
      fd = open(path, O_PATH | O_DIRECTORY, 0, follow);
    }
    if (!fd) return std::move(fd).error();
    last = std::move(fd).value();
  }
  return last;
}

Result<std::optional<struct stat>> Root::lstat(std::string_view guest) const {
  auto norm = normalize(guest);
  if (!norm) return std::move(norm).error();
  if (*norm == "/") {
    struct stat st {};
    if (::fstat(fd_->get(), &st) < 0) return errno_error("stat " + display(guest));
    return std::optional<struct stat>(st);
  }
  auto p = open_parent(guest, Follow::in_root);
  if (!p) {
    if (p.error().code == std::errc::no_such_file_or_directory) return std::optional<struct stat>{};
    return std::move(p).error();
  }
  struct stat st {};
  if (::fstatat(p->dir.get(), p->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return std::optional<struct stat>{};
    return errno_error("stat " + display(guest));
  }
  return std::optional<struct stat>(st);
}

Result<std::optional<struct stat>> Root::stat(std::string_view guest, Follow follow) const {
  auto fd = open(guest, O_PATH, 0, follow);
  if (!fd) {
    if (fd.error().code == std::errc::no_such_file_or_directory) return std::optional<struct stat>{};
    return std::move(fd).error();
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) < 0) return errno_error("stat " + display(guest));
  return std::optional<struct stat>(st);
}

Result<std::vector<std::string>> Root::list_dir(std::string_view guest, Follow follow) const {
  auto fd = open(guest, O_RDONLY | O_DIRECTORY, 0, follow);
  if (!fd) {
    if (fd.error().code == std::errc::no_such_file_or_directory) return std::vector<std::string>{};
    return std::move(fd).error();
  }
  DIR* dir = ::fdopendir(fd->get());
  if (!dir) return errno_error("opendir " + display(guest));
  fd->release();  // owned by dir now
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(dir);
  if (err) return errno_error("readdir " + display(guest), err);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> Root::read_link(std::string_view guest) const {
  auto p = open_parent(guest, Follow::in_root);
  if (!p) return std::move(p).error();
  return read_link_at(p->dir.get(), p->leaf.c_str(), display(guest));
}

}  // namespace guestkit::core
