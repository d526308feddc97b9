// Seeds read by device (libblkid says what the medium is: iso9660 and the swap tar
// through libarchive, vfat through mtools) and by directory (through the Root).

#include "plugins/seed/readers.hpp"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "plugins/seed/archive.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/seed/layout.hpp"

namespace guestkit::plugins::seed {
namespace {

std::optional<SourceKind> kind_of_label(std::string_view label) {
  if (label == "cidata" || label == "CIDATA") return SourceKind::nocloud;
  if (label == "config-2" || label == "CONFIG-2") return SourceKind::configdrive;
  return std::nullopt;
}

// Reads one member of a seed directory, never following a symlink and never opening a
// fifo or device for reading (O_NONBLOCK, then fstat before any read).
core::Status read_dir_member(const core::Root& root, const std::string& dir,
                             const std::string& name, std::size_t cap, detail::Collector& c) {
  const std::string path = dir + "/" + name;
  auto refuse = [&](const std::string& why) {
    c.refuse(name, why);
    return core::Status{};
  };
  auto st = root.lstat(path);
  if (!st) {
    if (st.error().code == core::make_error_code(core::Errc::symlink_refused) ||
        st.error().code == std::errc::too_many_symbolic_link_levels) {
      return refuse("a symbolic link on the way");
    }
    return std::move(st).error();
  }
  if (!*st) return {};  // absent
  const mode_t type = (*st)->st_mode & S_IFMT;
  if (type == S_IFLNK) return refuse("a symbolic link");
  if (type == S_IFDIR) return refuse("a directory");
  if (type != S_IFREG) return refuse("a device, fifo or socket");
  auto fd = root.open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW, 0, core::Follow::never);
  if (!fd) {
    return refuse("cannot be opened without following a link (" + fd.error().message() + ")");
  }
  struct stat fst {};
  if (::fstat(fd->get(), &fst) != 0) return core::errno_error("fstat " + root.display(path));
  if (!S_ISREG(fst.st_mode)) return refuse("not a regular file");
  if (fst.st_nlink > 1) return refuse("a hard link");
  if (static_cast<std::uint64_t>(fst.st_size) > cap)
    return refuse(std::to_string(fst.st_size) + " bytes, over the cap of " + std::to_string(cap));
  std::string data;
  data.resize(cap + 1);
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd->get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error("read " + root.display(path));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > cap) return refuse("over the cap of " + std::to_string(cap));
  data.resize(got);
  if (!c.fits(got)) return refuse("over the seed's total cap");
  c.add(name, std::move(data));
  return {};
}

bool dir_exists(const core::Root& root, const std::string& path) {
  auto st = root.lstat(path);
  return st && *st && S_ISDIR((*st)->st_mode);
}

}  // namespace

namespace detail {

core::Result<DeviceProbe> probe_fd(int fd, const std::string& origin) {
  std::unique_ptr<std::remove_pointer_t<blkid_probe>, decltype(&blkid_free_probe)> pr(
      blkid_new_probe(), &blkid_free_probe);
  if (!pr) return core::errno_error("blkid_new_probe", ENOMEM);
  if (blkid_probe_set_device(pr.get(), fd, 0, 0) != 0)
    return core::errno_error("blkid " + origin, EIO);
  blkid_probe_enable_superblocks(pr.get(), 1);
  blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
  blkid_probe_enable_partitions(pr.get(), 1);
  const int rc = blkid_do_safeprobe(pr.get());
  if (rc == -2)
    return core::make_error(core::Errc::bad_input, origin + " holds conflicting signatures");
  if (rc < 0) return core::errno_error("blkid " + origin, EIO);
  DeviceProbe p;
  auto get = [&](const char* key, std::string& out) {
    const char* value = nullptr;
    std::size_t len = 0;
    if (blkid_probe_lookup_value(pr.get(), key, &value, &len) == 0 && value)
      out.assign(value, len > 0 ? len - 1 : 0);
  };
  get("TYPE", p.type);
  get("LABEL", p.label);
  get("PTTYPE", p.pttype);
  return p;
}

core::Result<core::UniqueFd> open_device(const std::string& device) {
  core::UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return core::errno_error("open " + device);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return core::errno_error("fstat " + device);
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
    return core::make_error(core::Errc::bad_input,
                            device + " is not a block device or an image file");
  return fd;
}

core::Result<SeedFiles> read_vfat(int fd, const std::string& device, SourceKind kind) {
  // mtools opens the device by name: check that the name still is the device we
  // opened and probed (same device number, or same inode for an image file).
  struct stat by_fd {
  }, by_name{};
  if (::fstat(fd, &by_fd) != 0) return core::errno_error("fstat " + device);
  if (::stat(device.c_str(), &by_name) != 0) return core::errno_error("stat " + device);
  const bool same = S_ISBLK(by_fd.st_mode)
                        ? (S_ISBLK(by_name.st_mode) && by_fd.st_rdev == by_name.st_rdev)
                        : (by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino);
  if (!same) return core::make_error(core::Errc::unsafe, device + " changed while it was read");
  SeedFiles out;
  out.kind = kind;
  out.origin = device;
  detail::Collector c(out);
  for (const auto& name : fixed_members(kind)) {
    const std::size_t cap = *member_cap(kind, name);
    core::ToolOptions o;
    o.timeout = std::chrono::seconds(10);
    o.max_output = cap + 1;
    o.env["MTOOLS_SKIP_CHECK"] = "1";  // a seed image need not have a PC floppy's geometry
    o.failure_is_error = false;        // a member that is not there is no failure
    // -n: no overwrite questions; no -t: bytes as they are; "-" is stdout.
    const std::vector<std::string> argv{"mcopy", "-n", "-i", device, "::/" + name, "-"};
    auto r = core::run_tool(argv, o);
    if (!r) return std::move(r).error();
    if (!r->success()) {
      if (r->exit_code == 1 && r->err.find("not found") != std::string::npos) continue;
      auto error = core::tool_error(argv, *r);
      error.context = "read " + name + " from " + device + ": " + error.context;
      return error;
    }
    if (r->output_truncated || r->out.size() > cap) {
      c.refuse(name, "over the cap of " + std::to_string(cap));
      continue;
    }
    if (!c.fits(r->out.size())) {
      c.refuse(name, "over the seed's total cap");
      continue;
    }
    c.add(name, std::move(r->out));
  }
  return out;
}

}  // namespace detail

core::Result<SeedFiles> read_device(const std::string& device, std::optional<SourceKind> guess) {
  auto fd = detail::open_device(device);
  if (!fd) return std::move(fd).error();
  auto probe = detail::probe_fd(fd->get(), device);
  if (!probe) return std::move(probe).error();
  if (probe->type == "iso9660" || probe->type == "vfat") {
    auto kind = kind_of_label(probe->label);
    if (!kind) kind = guess;
    if (!kind || *kind == SourceKind::swap_guestkit || *kind == SourceKind::swap_gandi)
      return core::make_error(core::Errc::bad_input, device + ": " + probe->type + " labelled '" +
                                                         core::sanitize_for_log(probe->label) +
                                                         "', not cidata or config-2");
    if (probe->type == "iso9660") return detail::read_iso(fd->get(), *kind, device);
    return detail::read_vfat(fd->get(), device, *kind);
  }
  if (!probe->type.empty() && probe->type != "swap")
    return core::make_error(core::Errc::bad_input,
                            device + " holds " + probe->type +
                                ": not a seed (a seed tar is only read from a "
                                "disk without a filesystem)");
  auto tar = detail::read_swap_tar(fd->get(), device, true);
  if (!tar) return std::move(tar).error();
  if (!*tar)
    return core::make_error(core::Errc::bad_input,
                            device +
                                ": no seed (no iso9660 or vfat labelled cidata or "
                                "config-2, no seed tar at 512 KiB)");
  return std::move((*tar)->files);
}

core::Result<SeedFiles> read_dir(const core::Root& root, const std::string& dir,
                                 std::optional<SourceKind> kind) {
  auto resolved = root.resolve(dir, core::Follow::in_root, true);
  if (!resolved) return std::move(resolved).error();
  if (!dir_exists(root, *resolved))
    return core::make_error(core::Errc::bad_input, root.display(dir) + " is not a directory");
  const std::string base = *resolved == "/" ? "" : *resolved;
  if (!kind) {
    if (dir_exists(root, base + "/openstack/latest"))
      kind = SourceKind::configdrive;
    else if (dir_exists(root, base + "/guestkit"))
      kind = SourceKind::swap_guestkit;
    else if (dir_exists(root, base + "/gandi"))
      kind = SourceKind::swap_gandi;
    else
      kind = SourceKind::nocloud;
  }
  SeedFiles out;
  out.kind = *kind;
  out.origin = dir;
  detail::Collector c(out);
  std::vector<std::string> names = detail::fixed_members(*kind);
  // The swap layouts also name files by pattern: list those directories.
  const char* listed[2] = {nullptr, nullptr};
  if (*kind == SourceKind::swap_guestkit)
    listed[0] = "guestkit/postboot", listed[1] = "guestkit/modules";
  if (*kind == SourceKind::swap_gandi) listed[0] = "gandi/modules";
  for (const char* sub : listed) {
    if (!sub) continue;
    auto entries = root.list_dir(base + "/" + sub, core::Follow::never);
    if (!entries) continue;
    for (const auto& e : *entries) {
      const std::string name = std::string(sub) + "/" + e;
      if (detail::member_cap(*kind, name)) names.push_back(name);
    }
  }
  for (const auto& name : names) {
    if (auto r = read_dir_member(root, base, name, *detail::member_cap(*kind, name), c); !r)
      return std::move(r).error();
  }
  return out;
}

core::Result<std::optional<SeedFiles>> read_swap_seed(int fd, const std::string& origin) {
  auto tar = detail::read_swap_tar(fd, origin, true);
  if (!tar) return std::move(tar).error();
  if (!*tar) return std::optional<SeedFiles>();
  return std::optional<SeedFiles>(std::move((*tar)->files));
}

core::Result<std::optional<std::uint64_t>> swap_seed_extent(int fd) {
  auto tar = detail::read_swap_tar(fd, "swap seed", false);
  if (!tar) return std::move(tar).error();
  if (!*tar) return std::optional<std::uint64_t>();
  const std::uint64_t page = 4096;
  return std::optional<std::uint64_t>(((*tar)->consumed + page - 1) / page * page);
}

}  // namespace guestkit::plugins::seed
