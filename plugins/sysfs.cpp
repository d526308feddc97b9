#include "plugins/sysfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "core/log.hpp"

namespace guestkit::plugins::sysfs {
namespace {

std::string join(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

// openat for one plain name, never following a symlink. Messages are built by the
// caller, and only on failure: a sweep over thousands of blocks must not format a path
// per attribute it opens successfully.
struct Opened {
  core::UniqueFd fd;
  int err = 0;           // errno when !fd
  bool symlink = false;  // the name is a symlink (refused)
};

Opened open_entry(int dir, std::string_view name, int flags) {
  Opened out;
  const std::string leaf(name);  // short sysfs names: no allocation
  if (leaf.empty() || leaf == "." || leaf == ".." || leaf.find('/') != std::string::npos) {
    out.err = EINVAL;
    return out;
  }
  out.fd.reset(::openat(dir, leaf.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (out.fd) return out;
  out.err = errno;
  // O_NOFOLLOW on a link gives ELOOP, or ENOTDIR together with O_DIRECTORY.
  struct stat st {};
  out.symlink = (out.err == ELOOP || out.err == ENOTDIR) &&
                ::fstatat(dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  return out;
}

core::Error open_error(const Opened& o, std::string_view name, std::string what) {
  if (o.symlink) return core::make_error(core::Errc::symlink_refused, std::move(what));
  if (o.err == EINVAL &&
      (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos))
    return core::make_error(core::Errc::bad_input,
                            "'" + std::string(name) + "' is not a plain name");
  return core::errno_error(std::move(what), o.err);
}

}  // namespace

core::Result<Dir> Dir::open(const core::Root& root, std::string_view guest, core::Follow follow) {
  auto fd = root.open(guest, O_PATH | O_DIRECTORY, 0, follow);
  if (!fd) return std::move(fd).error();
  return Dir(std::make_shared<const core::Root>(root), std::move(fd).value(), std::string(guest));
}

core::Result<Dir> Dir::child(std::string_view name) const {
  auto o = open_entry(fd_.get(), name, O_PATH | O_DIRECTORY);
  if (!o.fd) return open_error(o, name, display(name));
  return Dir(root_, std::move(o.fd), join(guest_, name));
}

core::Result<std::optional<std::string>> Dir::read(std::string_view attr) const {
  // No fstat: O_NONBLOCK keeps a FIFO or terminal from blocking, the size cap stops an
  // endless device, and a sweep over thousands of blocks saves a system call each.
  auto o = open_entry(fd_.get(), attr, O_RDONLY | O_NONBLOCK);
  if (!o.fd) {
    if (o.err == ENOENT) return std::optional<std::string>{};
    return open_error(o, attr, display(attr));
  }
  // The message is only made on failure (see open_entry).
  auto text = read_fd(o.fd.get(), kMaxAttr, {});
  if (!text) {
    auto err = std::move(text).error();
    err.context = "read " + display(attr);
    return err;
  }
  return std::optional<std::string>(std::move(text).value());
}

core::Result<std::optional<std::uint64_t>> Dir::read_u64(std::string_view attr) const {
  auto text = read(attr);
  if (!text) return std::move(text).error();
  if (!*text) return std::optional<std::uint64_t>{};
  auto value = parse_u64(**text);
  if (!value)
    return core::make_error(core::Errc::bad_input, display(attr) + ": not a decimal number: '" +
                                                       core::sanitize_for_log(**text) + "'");
  return std::optional<std::uint64_t>(*value);
}

core::Status Dir::write(std::string_view attr, std::string_view value) const {
  const auto what = [&] {
    // /proc/sys values end in a newline, as sysctl(8) writes them; not the message.
    std::string_view shown = value;
    while (!shown.empty() && shown.back() == '\n') shown.remove_suffix(1);
    return "write " + std::string(shown) + " to " + display(attr);
  };
  // O_TRUNC matters only for a fake tree's regular files (sysfs and procfs ignore it,
  // as they do for `echo online > state`); it is ignored for FIFOs and devices too,
  // which the fstat below refuses before any byte is written. O_NONBLOCK: a FIFO
  // without a reader fails instead of hanging.
  auto o = open_entry(fd_.get(), attr, O_WRONLY | O_TRUNC | O_NONBLOCK);
  if (!o.fd) return open_error(o, attr, what());
  struct stat st {};
  if (::fstat(o.fd.get(), &st) < 0) return core::errno_error(what());
  if (!S_ISREG(st.st_mode))
    return core::make_error(std::make_error_code(std::errc::invalid_argument),
                            what() + ": not a regular file");
  if (auto written = write_fd(o.fd.get(), value, {}); !written) {
    auto err = std::move(written).error();
    err.context = what() + err.context;  // " (nothing written)" stays
    return err;
  }
  return {};
}

std::string Dir::display(std::string_view name) const {
  return root_->display(join(guest_, name));
}

namespace {

// "/proc/sys/vm/swappiness" -> "/proc/sys/vm", "swappiness".
std::pair<std::string_view, std::string_view> split_leaf(std::string_view guest) {
  const auto slash = guest.rfind('/');
  if (slash == std::string_view::npos) return {"", guest};
  return {slash == 0 ? guest.substr(0, 1) : guest.substr(0, slash), guest.substr(slash + 1)};
}

}  // namespace

core::Result<std::optional<std::string>> read_attr(const core::Root& root, std::string_view guest,
                                                   core::Follow follow) {
  const auto [dir_path, leaf] = split_leaf(guest);
  auto dir = Dir::open(root, dir_path, follow);
  if (!dir) {
    if (dir.error().code == std::errc::no_such_file_or_directory)
      return std::optional<std::string>{};
    return std::move(dir).error();
  }
  return dir->read(leaf);
}

core::Status write_attr(const core::Root& root, std::string_view guest, std::string_view value) {
  const auto [dir_path, leaf] = split_leaf(guest);
  auto dir = Dir::open(root, dir_path);
  if (!dir) return std::move(dir).error();
  return dir->write(leaf, value);
}

core::Result<std::string> read_fd(int fd, std::size_t limit, std::string_view what) {
  // sysfs and procfs hand out an attribute whole in the first read, and a short read of
  // a regular file is its end: one read(2) is enough unless the buffer came back full
  // (a sweep over thousands of memory blocks saves a system call per attribute).
  std::string text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::errno_error(std::string(what));
    }
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > limit)
      return core::make_error(std::make_error_code(std::errc::file_too_large), std::string(what));
    if (static_cast<std::size_t>(n) < buf.size()) break;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
    text.pop_back();
  return text;
}

core::Status write_fd(int fd, std::string_view value, std::string_view what) {
  std::size_t done = 0;
  while (done < value.size()) {
    const ssize_t n = ::write(fd, value.data() + done, value.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error(std::string(what));
    // A store that takes nothing and says no error would loop forever.
    if (n == 0) return core::errno_error(std::string(what) + " (nothing written)", EIO);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::optional<unsigned> parse_indexed_name(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view digits = name.substr(prefix.size());
  if (digits.size() > 9 || (digits.size() > 1 && digits.front() == '0')) return std::nullopt;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_hex_u64(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<dev_t> parse_devno(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto major_no = parse_u64(text.substr(0, colon));
  const auto minor_no = parse_u64(text.substr(colon + 1));
  // Linux: 12-bit majors, 20-bit minors.
  if (!major_no || !minor_no || *major_no >= (1u << 12) || *minor_no >= (1u << 20))
    return std::nullopt;
  return makedev(static_cast<unsigned>(*major_no), static_cast<unsigned>(*minor_no));
}

std::vector<unsigned> indexed(const std::vector<std::string>& names, std::string_view prefix) {
  std::vector<unsigned> ids;
  for (const auto& name : names)
    if (auto id = parse_indexed_name(name, prefix)) ids.push_back(*id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<Ranges> parse_ranges(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  Ranges out;
  const auto number = [](std::string_view s) -> std::optional<unsigned> {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto dash = item.find('-');
    const auto lo = number(item.substr(0, dash));
    const auto hi = dash == std::string_view::npos ? lo : number(item.substr(dash + 1));
    if (!lo || !hi || *hi < *lo) return std::nullopt;
    out.emplace_back(*lo, *hi);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return std::nullopt;  // "0-3,"
  }
  return out;
}

bool in_ranges(const Ranges& ranges, unsigned id) {
  for (const auto& [lo, hi] : ranges)
    if (id >= lo && id <= hi) return true;
  return false;
}

std::string format_ranges(std::string_view prefix, const std::vector<unsigned>& ids) {
  if (ids.empty()) return "-";
  std::string out(prefix);
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
    if (j > i) out += '-' + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

std::string format_bytes(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  // Whole numbers stay whole ("128 MiB"), others get one decimal ("1.5 GiB").
  if (value == static_cast<double>(static_cast<std::uint64_t>(value)))
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(value), kUnits[unit]);
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  return buf;
}

}  // namespace guestkit::plugins::sysfs
