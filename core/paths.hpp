#pragma once
// Every literal system path guestkit uses, as a *guest* path (resolve through Root).
// Nothing else in the tree spells out /etc, /run, /sys, /proc, /dev or /srv.

#include "core/build_info.hpp"

namespace guestkit::core::paths {

// configuration
inline constexpr const char* kConfigFile = "/etc/guestkit/guestkit.yml";
inline constexpr const char* kConfigDropinDir = "/etc/guestkit/guestkit.yml.d";
inline constexpr const char* kLegacyDefault = "/etc/default/gandi";
inline constexpr const char* kLegacySysconfig = "/etc/sysconfig/gandi";
inline constexpr const char* kEtcPluginsDir = "/etc/guestkit/plugins.d";
inline constexpr const char* kLibPluginsDir = kPluginsLibDir;  // build_info.hpp

// runtime state (tmpfs)
inline constexpr const char* kRunDir = "/run/guestkit";
inline constexpr const char* kLockDir = "/run/guestkit/lock";
inline constexpr const char* kRunsDir = "/run/guestkit/runs";

// system files plugins manage
inline constexpr const char* kMotd = "/etc/motd";
inline constexpr const char* kMotdOrig = "/etc/motd.guestkit-orig";
inline constexpr const char* kUpdateMotdDir = "/etc/update-motd.d";
inline constexpr const char* kUpdateMotdScript = "/etc/update-motd.d/50-guestkit";

// kernel interfaces
inline constexpr const char* kDevNull = "/dev/null";
inline constexpr const char* kSysClass = "/sys/class";
inline constexpr const char* kSysBus = "/sys/bus";
inline constexpr const char* kSysCpuDir = "/sys/devices/system/cpu";        // cpuN/online
inline constexpr const char* kSysMemoryDir = "/sys/devices/system/memory";  // memoryN/state
inline constexpr const char* kProcZoneinfo = "/proc/zoneinfo";

}  // namespace guestkit::core::paths
