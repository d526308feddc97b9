// Seeds read through libarchive, in userspace: the iso9660 of a NoCloud or ConfigDrive
// medium and the old platform's tar in the swap disk. Every entry is checked before a
// byte of it is read (layout.hpp): only whitelisted regular files within their cap are
// read, hostile entries are listed in `refused`, and nothing is ever extracted.

#include "plugins/seed/archive.hpp"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include "core/log.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/seed/layout.hpp"
#include "plugins/seed/libarchive.hpp"

namespace guestkit::plugins::seed::detail {
namespace {

// The tar record size: reads stay on record boundaries, so `consumed` overshoots the
// archive's end by less than one record.
constexpr std::size_t kBlock = 10240;

// libarchive reads through these callbacks: pread from `base`, never past `end`, so
// the descriptor's file position is never used and nothing after the device is read.
struct Source {
  int fd = -1;
  std::uint64_t base = 0;
  std::uint64_t end = 0;
  std::uint64_t pos = 0;  // relative to base
  int error = 0;
  std::array<char, kBlock> buf{};
};

la_ssize_t on_read(struct archive*, void* data, const void** out) {
  auto* s = static_cast<Source*>(data);
  *out = s->buf.data();
  const std::uint64_t at = s->base + s->pos;
  if (at >= s->end) return 0;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, s->end - at));
  ssize_t n;
  do n = ::pread(s->fd, s->buf.data(), want, static_cast<off_t>(at));
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    s->error = errno;
    return -1;
  }
  s->pos += static_cast<std::uint64_t>(n);
  return n;
}

la_int64_t on_skip(struct archive*, void* data, la_int64_t request) {
  auto* s = static_cast<Source*>(data);
  if (request <= 0) return 0;
  // Whole records only, so that a following read stays aligned.
  std::uint64_t step = static_cast<std::uint64_t>(request) / kBlock * kBlock;
  const std::uint64_t left = s->end > s->base + s->pos ? s->end - (s->base + s->pos) : 0;
  step = std::min(step, left / kBlock * kBlock);
  s->pos += step;
  return static_cast<la_int64_t>(step);
}

core::Error archive_error(struct archive* a, const Source& src, const std::string& what) {
  if (src.error) return core::errno_error(what, src.error);
  const char* msg = la().archive_error_string(a);
  return core::make_error(core::Errc::bad_input, what + ": " + (msg ? msg : "unreadable"));
}

// Reads the data of the current entry, at most `cap` bytes; nullopt when it has more.
core::Result<std::optional<std::string>> read_capped(struct archive* a, const Source& src,
                                                     std::size_t cap, const std::string& what) {
  std::string data;
  std::array<char, 65536> chunk{};
  for (;;) {
    const la_ssize_t n = la().archive_read_data(a, chunk.data(), chunk.size());
    if (n < 0) return archive_error(a, src, what);
    if (n == 0) break;
    if (data.size() + static_cast<std::size_t>(n) > cap) return std::optional<std::string>();
    data.append(chunk.data(), static_cast<std::size_t>(n));
  }
  return std::optional<std::string>(std::move(data));
}

// Walks every entry; `layout` picks the layout of a member name (nullopt: not part
// of any layout this medium may hold). The first whitelisted member fixes the layout
// of a swap tar; members of the other one are refused.
struct Walk {
  std::optional<SourceKind> kind;
  bool swap = false;
  bool want_data = true;
};

core::Status walk(struct archive* a, Source& src, Walk& w, SeedFiles& out,
                  const std::string& origin) {
  Collector c(out);
  struct archive_entry* e = nullptr;
  for (std::size_t count = 0;; ++count) {
    const int rc = la().archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return archive_error(a, src, "read " + origin);
    if (count == kMaxEntries) {
      c.refuse("...", "more than " + std::to_string(kMaxEntries) + " entries: the rest");
      break;
    }
    const char* raw = la().archive_entry_pathname(e);
    if (!raw) {
      c.refuse("(unnamed)", "a name that cannot be read");
      continue;
    }
    const std::string name = clean_name(raw);
    const mode_t type = la().archive_entry_filetype(e);
    if (type == AE_IFDIR && (name == "." || name.empty())) continue;  // an ISO's root
    if (const std::string why = unsafe_name(name); !why.empty()) {
      c.refuse(raw, why);
      continue;
    }
    if (la().archive_entry_hardlink(e)) {
      c.refuse(name, "a hard link");
      continue;
    }
    if (type == AE_IFDIR) continue;
    if (type != AE_IFREG) {
      c.refuse(name, member_kind(type));
      continue;
    }
    if (w.swap) {
      const auto layout = swap_layout_of(name);
      if (!w.kind && layout) w.kind = layout;
      if (layout != w.kind) {
        c.refuse(name,
                 w.kind ? "outside the seed's layout" : "before any guestkit/ or gandi/ member");
        continue;
      }
    }
    const auto cap = w.kind ? member_cap(*w.kind, name) : std::nullopt;
    if (!cap) {
      core::log_debug("seed: ", origin, ": ", core::sanitize_for_log(name),
                      " is not part of the layout, ignoring");
      continue;
    }
    if (la().archive_entry_sparse_count(e) > 0) {
      c.refuse(name, "a sparse member");
      continue;
    }
    if (la().archive_entry_size_is_set(e) &&
        la().archive_entry_size(e) > static_cast<la_int64_t>(*cap)) {
      c.refuse(name, std::to_string(la().archive_entry_size(e)) + " bytes, over the cap of " +
                         std::to_string(*cap));
      continue;
    }
    if (c.seen(name)) {
      c.refuse(name, "a second member of that name");
      continue;
    }
    c.mark(name);
    if (!w.want_data) continue;
    auto data = read_capped(a, src, *cap, "read " + origin + ": " + name);
    if (!data) return std::move(data).error();
    if (!*data) {
      c.refuse(name, "over the cap of " + std::to_string(*cap) + " bytes");
      continue;
    }
    if (!c.fits((*data)->size())) {
      c.refuse(name, "over the seed's total cap of " + std::to_string(kMaxTotalBytes) + " bytes");
      continue;
    }
    c.add(name, std::move(**data));
  }
  return {};
}

core::Result<ArchivePtr> open_archive(Source& src, bool iso, const std::string& origin) {
  auto reader = new_reader();
  if (!reader) return std::move(reader).error();
  ArchivePtr a = std::move(*reader);
  // One format each, no decompression filter: a seed is a plain tar or an ISO, and
  // nothing else in libarchive gets to parse platform data.
  if (iso)
    la().archive_read_support_format_iso9660(a.get());
  else
    la().archive_read_support_format_tar(a.get());
  la().archive_read_set_read_callback(a.get(), on_read);
  la().archive_read_set_skip_callback(a.get(), on_skip);
  la().archive_read_set_callback_data(a.get(), &src);
  if (la().archive_read_open1(a.get()) != ARCHIVE_OK)
    return archive_error(a.get(), src, "open " + origin);
  return a;
}

}  // namespace

const char* member_kind(mode_t type) {
  switch (type) {
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a fifo";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "not a regular file or directory";
  }
}

core::Result<std::uint64_t> size_of_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return core::errno_error("fstat");
  if (S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  if (!S_ISBLK(st.st_mode))
    return core::make_error(core::Errc::bad_input, "not a block device or a file");
  std::uint64_t size = 0;
  if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return core::errno_error("BLKGETSIZE64");
  return size;
}

namespace {

// ECMA-119: volume descriptors are 2048-byte sectors from sector 16, each "CD001" at
// byte 1, ended by type 255. Both-endian fields are read in their little-endian half,
// as libarchive reads them.
constexpr std::uint64_t kIsoSector = 2048;
constexpr std::uint64_t kIsoFirstDescriptor = 16;
// libarchive looks at the first 8 or 9 descriptors; a few more here cost nothing.
constexpr std::uint64_t kIsoMaxDescriptors = 32;

std::uint32_t le16(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0] | (p[1] << 8));
}
std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

}  // namespace

core::Status check_iso_bounds(int fd, std::uint64_t size, const std::string& origin) {
  std::array<unsigned char, kIsoSector> vd{};
  for (std::uint64_t i = 0; i < kIsoMaxDescriptors; ++i) {
    const std::uint64_t at = (kIsoFirstDescriptor + i) * kIsoSector;
    if (at + kIsoSector > size) break;
    ssize_t n;
    do n = ::pread(fd, vd.data(), vd.size(), static_cast<off_t>(at));
    while (n < 0 && errno == EINTR);
    if (n < 0) return core::errno_error("read " + origin);
    if (static_cast<std::size_t>(n) != vd.size()) break;
    if (std::memcmp(vd.data() + 1, "CD001", 5) != 0 || vd[0] == 255) break;
    if (vd[0] != 1 && vd[0] != 2) continue;  // a boot record or a partition
    const std::uint64_t volume = std::uint64_t{le16(vd.data() + 128)} * le32(vd.data() + 80);
    const std::string what = "refused " + origin + ": its volume descriptor (sector " +
                             std::to_string(kIsoFirstDescriptor + i) + ") declares ";
    if (volume > size)
      return core::make_error(core::Errc::bad_input,
                              what + "a volume of " + std::to_string(volume) +
                                  " bytes, more than the medium's " + std::to_string(size));
    if (volume > kMaxIsoVolumeBytes)
      return core::make_error(core::Errc::bad_input,
                              what + "a volume of " + std::to_string(volume) +
                                  " bytes, over the cap of " + std::to_string(kMaxIsoVolumeBytes));
    // The root directory record (34 bytes at 156): extent at +2, data length at +10;
    // libarchive seeks to the extent in 2048-byte blocks whatever the block size says.
    const std::uint64_t root_at = std::uint64_t{le32(vd.data() + 158)} * kIsoSector;
    const std::uint64_t root_size = le32(vd.data() + 166);
    if (root_at + root_size > volume)
      return core::make_error(core::Errc::bad_input,
                              what + "a root directory of " + std::to_string(root_size) +
                                  " bytes at byte " + std::to_string(root_at) +
                                  ", outside its volume of " + std::to_string(volume) + " bytes");
  }
  return {};
}

core::Result<SeedFiles> read_iso(int fd, SourceKind kind, const std::string& origin) {
  auto size = size_of_fd(fd);
  if (!size) return std::move(size).error();
  if (auto ok = check_iso_bounds(fd, *size, origin); !ok) return std::move(ok).error();
  Source src;
  src.fd = fd;
  src.end = *size;
  auto a = open_archive(src, true, origin);
  if (!a) return std::move(a).error();
  SeedFiles out;
  out.kind = kind;
  out.origin = origin;
  Walk w;
  w.kind = kind;
  if (auto r = walk(a->get(), src, w, out, origin); !r) return std::move(r).error();
  return out;
}

core::Result<std::optional<SwapTar>> read_swap_tar(int fd, const std::string& origin,
                                                   bool want_data) {
  auto size = size_of_fd(fd);
  if (!size) return std::move(size).error();
  if (*size <= kSwapSeedOffset + 512) return std::optional<SwapTar>();
  // A tar header's checksum is what tells a tar from other bytes; zeros (a blank disk)
  // are an empty archive, which is no seed either.
  Source src;
  src.fd = fd;
  src.base = kSwapSeedOffset;
  src.end = *size;
  auto reader = new_reader();
  if (!reader) return std::move(reader).error();
  ArchivePtr a = std::move(*reader);
  la().archive_read_support_format_tar(a.get());
  la().archive_read_set_read_callback(a.get(), on_read);
  la().archive_read_set_skip_callback(a.get(), on_skip);
  la().archive_read_set_callback_data(a.get(), &src);
  if (la().archive_read_open1(a.get()) != ARCHIVE_OK) {
    if (src.error) return core::errno_error("read " + origin, src.error);
    return std::optional<SwapTar>();  // not a tar
  }
  // Peek at the first header: an unrecognised format or an empty archive is no seed.
  SwapTar t;
  t.files.origin = origin;
  Walk w;
  w.swap = true;
  w.want_data = want_data;
  auto st = walk(a.get(), src, w, t.files, origin);
  if (!st) {
    if (src.error) return std::move(st).error();
    if (!w.kind) return std::optional<SwapTar>();  // bytes that only looked like a tar
    return std::move(st).error();
  }
  if (!w.kind) return std::optional<SwapTar>();
  t.files.kind = *w.kind;
  t.consumed = src.pos;
  return std::optional<SwapTar>(std::move(t));
}

}  // namespace guestkit::plugins::seed::detail
