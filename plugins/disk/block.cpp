#include "plugins/disk/block.hpp"

#include <blkid.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "core/udev_device.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::disk {
namespace {

std::string sys_block(const std::string& name) { return std::string(core::paths::kSysClassBlock) + "/" + name; }

bool has_entry(int dirfd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}


std::uint32_t le32(const unsigned char* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint32_t be32(const unsigned char* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}
std::uint64_t be64(const unsigned char* p) {
  return (static_cast<std::uint64_t>(be32(p)) << 32) | be32(p + 4);
}

}  // namespace

core::Result<BlockDevice> read_block_device(const core::Root& root, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
    return core::make_error(core::Errc::bad_input, "device name '" + name + "'");
  auto syspath = root.resolve(sys_block(name), core::Follow::in_root, true);
  if (!syspath) return std::move(syspath).error();
  // The attributes are read relative to the directory, never following a link, so
  // no walk from "/" per attribute.
  auto dir = sysfs::Dir::open(root, *syspath);
  if (!dir) return std::move(dir).error();
  const int dfd = dir->fd();
  BlockDevice d;
  d.name = name;
  auto dev = dir->read("dev");
  auto devno = dev && *dev ? sysfs::parse_devno(**dev) : std::nullopt;
  if (!devno) return core::make_error(core::Errc::bad_input, root.display(*syspath) + "/dev unreadable");
  d.devno = *devno;
  std::string node = name;
  if (auto uevent = dir->read("uevent"); uevent && *uevent) {
    auto props = core::parse_uevent(**uevent);
    if (auto it = props.find("DEVNAME"); it != props.end() && !it->second.empty()) node = it->second;
  }
  d.devname = node.front() == '/' ? node : core::paths::kDevPrefix + node;
  d.partition = has_entry(dfd, "partition");
  // A partition's sysfs directory sits inside its disk's: .../block/vdb/vdb1.
  d.disk = name;
  if (d.partition) {
    const std::string parent = syspath->substr(0, syspath->rfind('/'));
    d.disk = parent.substr(parent.rfind('/') + 1);
  } else if (auto entries = root.list_dir(*syspath, core::Follow::never)) {
    // Partitions are named after their disk (vdb1, nvme0n1p1, loop0p1): only those
    // entries can be one, so the many attribute files are never stat()ed.
    for (const auto& e : *entries)
      if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && has_entry(dfd, e + "/partition"))
        d.partitions.push_back(e);
    std::sort(d.partitions.begin(), d.partitions.end(), core::natural_less);
  }
  if (auto holders = root.list_dir(*syspath + "/holders", core::Follow::never)) d.holders = *holders;
  // Sectors of 512 bytes whatever the device's own; an unreadable or absurd count is
  // taken as empty (such a device is skipped), never as a wrapped huge size.
  if (auto sectors = dir->read_u64("size"); sectors && *sectors)
    d.size_bytes = **sectors <= UINT64_MAX / 512 ? **sectors * 512 : 0;
  if (auto ro = dir->read("ro"); ro && *ro) d.read_only = **ro == "1";
  return d;
}

std::optional<std::string> disk_of(const core::Root& root, const std::string& name) {
  auto syspath = root.resolve(sys_block(name), core::Follow::in_root, true);
  if (!syspath) return std::nullopt;
  auto part = root.lstat(*syspath + "/partition");
  if (!part || !*part) return name;
  const std::string parent = syspath->substr(0, syspath->rfind('/'));
  return parent.substr(parent.rfind('/') + 1);
}

std::optional<std::string> block_name_of(const core::Root& root, dev_t devno) {
  std::string link = std::string(core::paths::kSysDevBlock) + "/" + std::to_string(major(devno)) + ":" +
                     std::to_string(minor(devno));
  auto real = root.resolve(link, core::Follow::in_root, true);
  if (!real) return std::nullopt;
  return real->substr(real->rfind('/') + 1);
}

core::Result<std::vector<std::string>> list_block_devices(const core::Root& root) {
  auto names = root.list_dir(core::paths::kSysClassBlock);
  if (!names) return std::move(names).error();
  std::sort(names->begin(), names->end(), core::natural_less);
  return names;
}

core::Result<Probe> probe_block_device(const core::Root& root, const std::string& devname) {
  // O_NONBLOCK: never wait on a removable medium; blkid only needs reads.
  auto fd = root.open(devname, O_RDONLY | O_NONBLOCK, 0, core::Follow::in_root);
  if (!fd) return std::move(fd).error();
  std::unique_ptr<std::remove_pointer_t<blkid_probe>, decltype(&blkid_free_probe)> pr(blkid_new_probe(),
                                                                                     &blkid_free_probe);
  if (!pr) return core::errno_error("blkid_new_probe");
  if (blkid_probe_set_device(pr.get(), fd->get(), 0, 0) != 0)
    return core::errno_error("blkid " + root.display(devname), EIO);
  blkid_probe_enable_superblocks(pr.get(), 1);
  blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
                                                  BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
  blkid_probe_enable_partitions(pr.get(), 1);
  blkid_probe_set_partitions_flags(pr.get(), BLKID_PARTS_ENTRY_DETAILS);
  int rc = blkid_do_safeprobe(pr.get());
  if (rc == -2)
    return core::make_error(std::make_error_code(std::errc::invalid_argument),
                            root.display(devname) + " holds conflicting signatures");
  if (rc < 0) return core::errno_error("blkid " + root.display(devname), EIO);
  Probe p;
  auto get = [&](const char* key, std::string& out) {
    const char* value = nullptr;
    std::size_t len = 0;
    if (blkid_probe_lookup_value(pr.get(), key, &value, &len) == 0 && value)
      out.assign(value, len > 0 ? len - 1 : 0);  // len counts the NUL
  };
  get("TYPE", p.type);
  get("USAGE", p.usage);
  get("LABEL", p.label);
  get("UUID", p.uuid);
  get("PTTYPE", p.pttype);
  get("PTUUID", p.ptuuid);
  get("PART_ENTRY_NAME", p.part_name);
  get("PART_ENTRY_TYPE", p.part_type);
  return p;
}

std::optional<FsGeometry> read_fs_geometry(const core::Root& root, const std::string& devname,
                                           const std::string& type) {
  const bool ext = type == "ext2" || type == "ext3" || type == "ext4";
  if (!ext && type != "xfs") return std::nullopt;
  // O_DIRECT: a mounted xfs keeps its metadata in its own buffers, so the device's page
  // cache can hold a superblock from before the last grow. Devices and files that
  // refuse O_DIRECT are read through the cache.
  auto fd = root.open(devname, O_RDONLY | O_NONBLOCK | O_DIRECT, 0, core::Follow::in_root);
  if (!fd) fd = root.open(devname, O_RDONLY | O_NONBLOCK, 0, core::Follow::in_root);
  if (!fd) return std::nullopt;
  constexpr std::size_t kRead = 4096;  // aligned for O_DIRECT, covers both superblocks
  std::unique_ptr<unsigned char, decltype(&std::free)> buf(
      static_cast<unsigned char*>(std::aligned_alloc(kRead, kRead)), &std::free);
  if (!buf) return std::nullopt;
  ssize_t n = ::pread(fd->get(), buf.get(), kRead, 0);
  if (n < 0 && errno == EINVAL) {  // O_DIRECT accepted at open, refused at read
    fd = root.open(devname, O_RDONLY | O_NONBLOCK, 0, core::Follow::in_root);
    if (!fd) return std::nullopt;
    n = ::pread(fd->get(), buf.get(), kRead, 0);
  }
  if (n != static_cast<ssize_t>(kRead)) return std::nullopt;
  if (ext) {
    // The ext superblock is 1 KiB at offset 1024 (fs/ext4/ext4.h, struct ext4_super_block).
    const unsigned char* sb = buf.get() + 1024;
    std::uint64_t blocks = le32(&sb[0x04]);
    const std::uint32_t log_block = le32(&sb[0x18]);
    const std::uint32_t incompat = le32(&sb[0x60]);
    if (incompat & 0x80) blocks |= static_cast<std::uint64_t>(le32(&sb[0x150])) << 32;  // INCOMPAT_64BIT
    const std::uint16_t state = static_cast<std::uint16_t>(sb[0x3a] | (sb[0x3b] << 8));
    if (log_block > 6) return std::nullopt;
    // s_state: bit 0 "cleanly unmounted", bit 1 "errors detected".
    return FsGeometry{blocks * (1024u << log_block), (state & 1) && !(state & 2)};
  }
  // struct xfs_dsb: big-endian, sb_blocksize at 4, sb_dblocks at 8.
  const unsigned char* sb = buf.get();
  return FsGeometry{be64(&sb[8]) * be32(&sb[4]), true};
}

}  // namespace guestkit::plugins::disk
