#pragma once
// sysfs and procfs attributes through a Root: the one reader and the one writer of
// kernel attributes (/sys for the cpu, memory, disk, iface and seed code, /proc/sys
// for 02-apply-sysctl and 40-tune-iface). A directory is opened once (walked through
// the Root, by default without following any symlink), then its attributes and
// subdirectories are reached with openat(O_NOFOLLOW) relative to it: a sweep over
// thousands of memory blocks costs a handful of system calls per block, not a walk
// from the root per file, and a planted symlink is never followed.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/fd.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::sysfs {

// sysfs attributes are at most a page; /proc/sys ones are short too. Anything longer
// is not an attribute.
inline constexpr std::size_t kMaxAttr = 65536;

class Dir {
 public:
  // Opens a guest directory. A missing one is an Error with ENOENT. Follow::in_root
  // for the class links (/sys/class/net/eth0 -> ../../devices/...), followed once
  // here and never again below.
  static core::Result<Dir> open(const core::Root& root, std::string_view guest,
                                core::Follow follow = core::Follow::never);

  // A subdirectory ("memory32"); a symlink there is refused.
  core::Result<Dir> child(std::string_view name) const;

  // An attribute's text with trailing whitespace removed; std::nullopt when absent.
  // Opened O_NONBLOCK and capped at 64 KiB, so a FIFO or device planted in a fake tree
  // neither blocks nor runs on forever. A symlink is refused (Errc::symlink_refused).
  core::Result<std::optional<std::string>> read(std::string_view attr) const;
  // A decimal attribute ("size", "start") through parse_u64: std::nullopt when absent,
  // Errc::bad_input naming the file when it is not a plain decimal number.
  core::Result<std::optional<std::uint64_t>> read_u64(std::string_view attr) const;
  // Writes `value` (write_fd: EINTR and short writes continued); the kernel's answer
  // (EBUSY, EINVAL...) comes back as the Error's code, in the system category. Never
  // creates the attribute, never writes to anything but a regular file (sysfs and
  // /proc/sys attributes are).
  core::Status write(std::string_view attr, std::string_view value) const;

  const std::string& guest() const noexcept { return guest_; }
  // The O_PATH descriptor, for fstatat() of entries that are no attributes.
  int fd() const noexcept { return fd_.get(); }
  // Host path of an entry, for messages.
  std::string display(std::string_view name) const;

 private:
  Dir(std::shared_ptr<const core::Root> root, core::UniqueFd fd, std::string guest)
      : root_(std::move(root)), fd_(std::move(fd)), guest_(std::move(guest)) {}

  // Shared by a directory and its children (thousands of memory blocks), so no Root
  // is copied per block and none has to outlive the Dir.
  std::shared_ptr<const core::Root> root_;
  core::UniqueFd fd_;  // O_PATH|O_DIRECTORY
  std::string guest_;
};

// One attribute by its full guest path ("/sys/devices/system/cpu/online",
// "/proc/sys/vm/swappiness"): Dir::open of its directory with `follow`, then
// Dir::read. std::nullopt when the attribute or its directory is absent.
core::Result<std::optional<std::string>> read_attr(const core::Root& root, std::string_view guest,
                                                   core::Follow follow = core::Follow::never);
// Writes one attribute by its full guest path (Dir::open without following, then
// Dir::write): the /proc/sys writer. A missing one is an Error with ENOENT.
core::Status write_attr(const core::Root& root, std::string_view guest, std::string_view value);

// The loops under Dir::read and Dir::write, on an open descriptor. read_fd reads until
// a read returns less than its buffer (sysfs and procfs hand out an attribute whole,
// and a short read of a regular file is its end), EINTR retried, at most `limit`
// bytes (more is EFBIG), and drops trailing blanks and newlines. write_fd writes all of `value`: EINTR retried, a short write
// continued with the rest (as write_all in util-linux and loop_write in systemd do;
// /proc/sys honours the file position); the first error's errno is the Error's code.
// The Error's context is `what` (Dir passes none and names the file only on failure:
// a sweep must not format a path per attribute).
core::Result<std::string> read_fd(int fd, std::size_t limit, std::string_view what);
core::Status write_fd(int fd, std::string_view value, std::string_view what);

// "cpu12" with prefix "cpu" -> 12. Only canonical kernel names: decimal digits, no
// sign, no leading zero, at most 9 digits. Anything else ("cpu3/../..", "cpu01").
std::optional<unsigned> parse_indexed_name(std::string_view name, std::string_view prefix);

// The ids of the names in `names` that parse_indexed_name accepts, sorted by value
// (cpu2 before cpu10), which is also address order for memory blocks.
std::vector<unsigned> indexed(const std::vector<std::string>& names, std::string_view prefix);

// A decimal number as sysfs and procfs print it ("4096"): digits only (no sign, no
// space, no "0x"), no overflow. std::nullopt for anything else, where strtoull would
// have read "-1" as 2^64-1 and "12abc" as 12.
std::optional<std::uint64_t> parse_u64(std::string_view text);
// A hexadecimal number as the memory attributes print it (block_size_bytes
// "8000000", phys_index "00000020"): hex digits only, no "0x", no sign, no overflow.
std::optional<std::uint64_t> parse_hex_u64(std::string_view text);
// A device number as sysfs' `dev` prints it ("254:16"): MAJOR:MINOR, each checked as
// above and in range. sscanf("%u:%u") took "-1:3" and "+8:0".
std::optional<dev_t> parse_devno(std::string_view text);

// The kernel's list format ("0-3,6\n", as in /sys/devices/system/cpu/online); an
// empty list is valid. std::nullopt when malformed.
using Ranges = std::vector<std::pair<unsigned, unsigned>>;
std::optional<Ranges> parse_ranges(std::string_view text);
bool in_ranges(const Ranges& ranges, unsigned id);
// Sorted ids -> "cpu0-3,6" (the prefix once); "-" when empty.
std::string format_ranges(std::string_view prefix, const std::vector<unsigned>& ids);

// "128 MiB", "1.5 GiB": sizes for people.
std::string format_bytes(std::uint64_t bytes);

}  // namespace guestkit::plugins::sysfs
