#include "core/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>

#include "core/log.hpp"

namespace guestkit::core {
namespace {

Status write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write " + what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Reads an open fd to EOF; more than `limit` bytes is EFBIG.
Result<std::string> read_all(int fd, std::size_t limit, const std::string& what) {
  std::string out;
  std::array<char, 16384> buf{};
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + what);
    }
    if (n == 0) return out;
    if (out.size() + static_cast<std::size_t>(n) > limit)
      return make_error(std::make_error_code(std::errc::file_too_large),
                        "read " + what + " (over " + std::to_string(limit) + " bytes)");
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
}

std::string random_suffix() {
  std::array<unsigned char, 8> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    // getrandom cannot fail for 8 bytes once the pool is up; fall back to the clock
    // and pid, which is fine for a name that O_EXCL protects anyway.
    auto v = static_cast<unsigned long long>(::getpid()) ^
             static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (auto& b : bytes) b = static_cast<unsigned char>(v), v >>= 8;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

constexpr std::string_view kTempMark = ".gk-";
constexpr std::size_t kTempSuffix = 16;  // hex digits of random_suffix()

std::string parent_of(const std::string& normalized) {
  auto slash = normalized.rfind('/');
  return slash == 0 ? "/" : normalized.substr(0, slash);
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<std::string> read_file(const Root& root, std::string_view guest, std::size_t limit,
                              Follow follow) {
  auto fd = root.open(guest, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, follow);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (::fstat(fd->get(), &st) < 0) return errno_error("stat " + root.display(guest));
  // A FIFO or device would block or never end; guestkit only reads files.
  if (!S_ISREG(st.st_mode))
    return make_error(std::make_error_code(std::errc::invalid_argument),
                      root.display(guest) + " is not a regular file");
  return read_all(fd->get(), limit, root.display(guest));
}

Result<std::optional<std::string>> read_file_if_exists(const Root& root, std::string_view guest,
                                                       std::size_t limit, Follow follow) {
  auto r = read_file(root, guest, limit, follow);
  if (r) return std::optional<std::string>(std::move(r).value());
  if (r.error().code == std::errc::no_such_file_or_directory) return std::optional<std::string>{};
  return std::move(r).error();
}

Status write_file_atomic(const Root& root, std::string_view guest, std::string_view data,
                         const WriteOptions& options) {
  auto norm = Root::normalize(guest);
  if (!norm) return std::move(norm).error();
  const std::string what = root.display(*norm);
  if (options.create_parents) {
    auto made = root.mkdirs(parent_of(*norm), options.parent_mode, options.follow);
    if (!made) return std::move(made).error();
  }
  auto parent = root.open_parent(*norm, options.follow);
  if (!parent) return std::move(parent).error();
  // An O_PATH fd cannot be fsync'ed; reopen the directory for real.
  UniqueFd dir(::openat(parent->dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno_error("open directory of " + what);

  // Leftovers of a writer killed mid-write, here, go first (sweep_temp_files).
  if (auto swept = sweep_temp_files(dir.get(), kTempMinAge); !swept)
    log_debug("sweep stale temporary files beside ", what, ": ", swept.error().message(),
              ", ignoring");

  std::string tmp;
  UniqueFd fd;
  for (int attempt = 0; attempt < 16 && !fd; ++attempt) {
    tmp = temp_name(parent->leaf);
    fd.reset(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600));
    if (!fd && errno != EEXIST) return errno_error("create temporary file for " + what);
  }
  if (!fd) return errno_error("create temporary file for " + what);
  // Held until the rename is done (by a second descriptor, as close() is checked
  // before it): a sweep never takes a temp file whose writer is alive. Blocking, in
  // case a sweep is looking at it this very moment; it leaves files this young alone.
  UniqueFd held(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  if (!held) {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return errno_error("create temporary file for " + what);
  }
  while (::flock(held.get(), LOCK_EX) < 0 && errno == EINTR) {
  }

  auto fail = [&](Error e) -> Status {
    ::unlinkat(dir.get(), tmp.c_str(), 0);
    return e;
  };
  // Owner and mode before the first byte: chown first, since it clears set-id bits.
  if ((options.owner || options.group) &&
      ::fchown(fd.get(), options.owner.value_or(static_cast<uid_t>(-1)),
               options.group.value_or(static_cast<gid_t>(-1))) < 0)
    return fail(errno_error("chown " + what));
  if (::fchmod(fd.get(), options.mode) < 0) return fail(errno_error("chmod " + what));
  if (auto w = write_all(fd.get(), data, what); !w) return fail(std::move(w).error());
  if (options.durable && ::fsync(fd.get()) < 0) return fail(errno_error("fsync " + what));
  if (::close(fd.release()) < 0) return fail(errno_error("close " + what));
  if (::renameat(dir.get(), tmp.c_str(), dir.get(), parent->leaf.c_str()) < 0)
    return fail(errno_error("rename into " + what));
  // The rename is only durable once the directory entry is.
  if (options.durable && ::fsync(dir.get()) < 0) return errno_error("fsync directory of " + what);
  return {};
}

std::string temp_name(std::string_view leaf) {
  // The name stays within NAME_MAX however long the target's name is.
  std::string name(".");
  name.append(leaf.substr(0, 200)).append(kTempMark).append(random_suffix());
  return name;
}

std::string staging_name(std::string_view leaf, std::string_view word) {
  std::string name(".");
  name.append(leaf.substr(0, 200)).append(kTempMark).append(word);
  return name;
}

bool is_temp_name(std::string_view name) {
  if (name.size() < 1 + 1 + kTempMark.size() + kTempSuffix || name.front() != '.') return false;
  const auto hex = name.substr(name.size() - kTempSuffix);
  const auto mark = name.substr(name.size() - kTempSuffix - kTempMark.size(), kTempMark.size());
  return mark == kTempMark && std::all_of(hex.begin(), hex.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::vector<std::string>> sweep_temp_files(int dirfd, std::chrono::seconds min_age) {
  UniqueFd listing(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!listing) return errno_error("open directory");
  DIR* dir = ::fdopendir(listing.get());
  if (!dir) return errno_error("open directory");
  listing.release();  // owned by dir now
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(dir))
    if (is_temp_name(e->d_name)) names.emplace_back(e->d_name);
  const int err = errno;
  ::closedir(dir);
  if (err) return errno_error("read directory", err);
  std::sort(names.begin(), names.end());

  // A temp file gets its final owner before its data (an authorized_keys for the
  // admin in the admin's ~/.ssh): the directory's owner counts as a writer too.
  struct stat dir_st {};
  if (::fstat(dirfd, &dir_st) < 0) return errno_error("stat directory");
  const auto ours = [&](uid_t uid) {
    return uid == 0 || uid == ::geteuid() || uid == dir_st.st_uid;
  };

  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> removed;
  for (const auto& name : names) {
    // Only what we could have written: a regular file (no link followed), root's, ours
    // or the directory owner's, one link, older than min_age, no writer holding its lock.
    UniqueFd fd(
        ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) continue;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 || !ours(st.st_uid))
      continue;
    const auto mtime = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    if (now - mtime < min_age) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) continue;  // its writer is alive
    // Still the file just checked under that name (names are random and O_EXCL, but
    // make sure), then it goes.
    struct stat again {};
    if (::fstatat(dirfd, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) < 0 ||
        again.st_dev != st.st_dev || again.st_ino != st.st_ino)
      continue;
    if (::unlinkat(dirfd, name.c_str(), 0) == 0) {
      log_debug("removed stale temporary file ", name, " (its writer is gone)");
      removed.push_back(name);
    }
  }
  return removed;
}

Result<std::vector<std::string>> sweep_temp_files(const Root& root, std::string_view guest_dir,
                                                  std::chrono::seconds min_age) {
  auto dir = root.open(guest_dir, O_PATH | O_DIRECTORY, 0, Follow::never);
  if (!dir) return std::move(dir).error();
  auto removed = sweep_temp_files(dir->get(), min_age);
  if (!removed)
    return make_error(removed.error().code,
                      removed.error().context + " " + root.display(guest_dir));
  return removed;
}

Result<bool> write_file_if_changed(const Root& root, std::string_view guest, std::string_view data,
                                   const WriteOptions& options) {
  auto parent = root.open_parent(guest, options.follow);
  if (parent) {
    UniqueFd fd(::openat(parent->dir.get(), parent->leaf.c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (fd && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        static_cast<std::size_t>(st.st_size) == data.size() &&
        (st.st_mode & 07777) == options.mode && (!options.owner || st.st_uid == *options.owner) &&
        (!options.group || st.st_gid == *options.group)) {
      auto current = read_all(fd.get(), data.size() + 1, root.display(guest));
      if (current && *current == data) return false;
    }
  } else if (parent.error().code != std::errc::no_such_file_or_directory ||
             !options.create_parents) {
    return std::move(parent).error();
  }
  if (auto w = write_file_atomic(root, guest, data, options); !w) return std::move(w).error();
  return true;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    out += l;
    out += '\n';
  }
  return out;
}

Result<bool> edit_lines(const Root& root, std::string_view guest,
                        const std::function<void(std::vector<std::string>&)>& edit,
                        const WriteOptions& options) {
  // Edit what a symlink points to (inside the root), so /etc/resolv.conf-style links
  // keep working; Follow::never refuses them instead.
  auto target = root.resolve(guest, options.follow);
  if (!target) return std::move(target).error();
  auto current = read_file_if_exists(root, *target, kDefaultReadLimit, Follow::never);
  if (!current) return std::move(current).error();
  std::vector<std::string> lines = *current ? split_lines(**current) : std::vector<std::string>{};
  const auto before = lines;
  edit(lines);
  // Untouched lines mean no write, even if the file lacked its final newline.
  if (lines == before && (*current || lines.empty())) return false;
  std::string text = join_lines(lines);

  WriteOptions keep = options;
  keep.follow = Follow::never;  // the path is already resolved
  if (*current) {
    auto st = root.lstat(*target);
    if (!st) return std::move(st).error();
    if (*st) {
      keep.mode = (*st)->st_mode & 07777;
      keep.owner = (*st)->st_uid;
      keep.group = (*st)->st_gid;
    }
  }
  if (auto w = write_file_atomic(root, *target, text, keep); !w) return std::move(w).error();
  return true;
}

void set_assignment(std::vector<std::string>& lines, std::string_view key, std::string_view value,
                    std::string_view sep) {
  const bool blank_sep = !sep.empty() && std::all_of(sep.begin(), sep.end(), is_blank);
  std::string_view sep_core = sep;
  while (!sep_core.empty() && is_blank(sep_core.front())) sep_core.remove_prefix(1);
  while (!sep_core.empty() && is_blank(sep_core.back())) sep_core.remove_suffix(1);

  auto matches = [&](std::string_view line) {
    line = trim_left(line);
    if (line.size() <= key.size() || line.substr(0, key.size()) != key) return false;
    std::string_view rest = line.substr(key.size());
    if (blank_sep) return is_blank(rest.front());
    rest = trim_left(rest);
    return rest.substr(0, sep_core.size()) == sep_core;
  };
  const std::string wanted = std::string(key) + std::string(sep) + std::string(value);
  bool done = false;
  for (auto it = lines.begin(); it != lines.end();) {
    if (!matches(*it)) {
      ++it;
      continue;
    }
    if (!done) {
      *it = wanted;
      done = true;
      ++it;
    } else {
      it = lines.erase(it);
    }
  }
  if (!done) lines.push_back(wanted);
}

void ensure_line(std::vector<std::string>& lines, std::string_view line) {
  if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.emplace_back(line);
}

std::size_t remove_lines(std::vector<std::string>& lines,
                         const std::function<bool(std::string_view)>& match) {
  auto old = lines.size();
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [&](const std::string& l) { return match(l); }),
              lines.end());
  return old - lines.size();
}

void replace_block(std::vector<std::string>& lines, std::string_view begin, std::string_view end,
                   const std::vector<std::string>& body, bool remove_if_empty) {
  auto b = std::find(lines.begin(), lines.end(), begin);
  auto e = b == lines.end() ? lines.end() : std::find(b + 1, lines.end(), end);
  std::vector<std::string> block;
  if (!(body.empty() && remove_if_empty)) {
    block.emplace_back(begin);
    block.insert(block.end(), body.begin(), body.end());
    block.emplace_back(end);
  }
  if (b == lines.end()) {
    lines.insert(lines.end(), block.begin(), block.end());
    return;
  }
  // A begin marker without its end marker: replace to the end of the file would eat
  // the admin's lines, so only the begin marker line is replaced.
  auto stop = e == lines.end() ? b + 1 : e + 1;
  auto pos = lines.erase(b, stop);
  lines.insert(pos, block.begin(), block.end());
}

}  // namespace guestkit::core
