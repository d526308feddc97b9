#pragma once
// A udev event as a helper sees it: the environment udev gives a RUN+= program (or
// the same keys passed explicitly). Validated, so nothing downstream has to wonder
// whether DEVNAME could be "../../etc/passwd".

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace guestkit::core {

struct UdevEvent {
  std::string action;     // add, remove, change, move, online, offline, bind, unbind
  std::string subsystem;  // block, net, cpu, memory, ...
  std::string devtype;    // disk, partition, ... (may be empty)
  std::string devname;    // /dev/vdb (block), empty for net/cpu/memory
  std::string devpath;    // /devices/... (without /sys)
  std::string interface;  // net: the interface name
  std::string seqnum;
  // ID_FS_* hints from udev's blkid builtin (TYPE, LABEL, UUID, USAGE, VERSION,
  // PARTUUID...), without the ID_FS_ prefix. LABEL is decoded from LABEL_ENC when
  // present. Hints only: the disk plugins re-probe with libblkid.
  std::map<std::string, std::string> fs;
  // Every variable that was given, verbatim, for plugins that need more.
  std::map<std::string, std::string> env;

  // Kernel name: last component of DEVPATH ("vdb1", "cpu3", "memory32", "eth1").
  std::string kernel_name() const;
};

// Parses and validates. Requires ACTION, SUBSYSTEM and DEVPATH; DEVPATH must start
// with "/devices/" and hold no "." / ".." components; DEVNAME, when present, must be
// "/dev/..." without "." / ".."; INTERFACE must be a valid interface name. Values
// with control characters are refused. Errors are Errc::bad_input naming the key.
Result<UdevEvent> parse_udev_event(const std::map<std::string, std::string>& env);
// From a process environment (envp / environ).
Result<UdevEvent> parse_udev_event(char** envp);

// Decodes udev's \xNN escapes (ID_FS_LABEL_ENC). Invalid escapes stay as they are.
std::string udev_decode(std::string_view encoded);

// A kernel device name: [A-Za-z0-9][A-Za-z0-9._:-]*, at most 64 bytes ("/dev/" is
// stripped); "..", "/" and control characters can never get through.
Result<std::string> check_kernel_name(const std::string& name);

// Valid Linux interface name: 1..15 bytes, no '/', ':', whitespace or control
// characters, not "." or "..".
bool valid_ifname(std::string_view name);

}  // namespace guestkit::core
