#pragma once
// What holds a disk, for prepare-detach's `busy` answer: processes with an open file,
// a working or root directory or a mapping on one of its filesystems (from
// /proc/PID/{fd,cwd,root,maps}: pid, comm, user, and the systemd unit the process
// belongs to), other mounts of it or below its mountpoints, swap on it, and the
// devices built on it (sysfs holders/: dm, md).

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/root.hpp"

namespace guestkit::plugins::disk {

struct ProcessHolder {
  pid_t pid = 0;
  std::string comm;
  uid_t uid = 0;
  std::string user;               // the uid's name in the root's /etc/passwd, else the number
  std::vector<std::string> uses;  // "fd", "cwd", "root", "mmap" (kinds only, no file names)
  std::string unit;               // "writer.service" from /proc/PID/cgroup, "" when none
};

// Every process (other than this one) using a filesystem whose device number is in
// `devnos`. Processes that exit while being looked at are left out.
std::vector<ProcessHolder> find_process_holders(const core::Root& root,
                                                const std::vector<dev_t>& devnos);

// The systemd unit in a /proc/PID/cgroup text ("0::/system.slice/x.service" ->
// "x.service"; the v1 "name=systemd" line when there is no v2 one); "" when none.
std::string unit_of_cgroup(const std::string& text);

// The device numbers a /proc/PID/maps text maps files from ("fd:01" fields).
std::vector<dev_t> mapped_devices(const std::string& maps);

}  // namespace guestkit::plugins::disk
