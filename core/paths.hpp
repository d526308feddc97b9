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
// What gandi-hosting-vm2 left: its hook directory (GANDI_HOOK_DIR's default) and the
// customer plugins of /etc/gandi/plugins.d (run in the config stage, as gandi-config did).
inline constexpr const char* kLegacyHooksDir = "/etc/gandi/hooks";
// Defaults of hooks_dir and agent.key_file (core/config.hpp).
inline constexpr const char* kHooksDir = "/etc/guestkit/hooks";
inline constexpr const char* kAgentKeyFile = "/etc/guestkit/agent.key";
inline constexpr const char* kLegacyPluginsDir = "/etc/gandi/plugins.d";
// guestkit's copies of the legacy flags file and hooks, made by the packages' takeover
// script (gandi-takeover), read when the originals are gone (a purge of the old package).
inline constexpr const char* kLegacyCopyDir = "/etc/guestkit/legacy";
inline constexpr const char* kLegacyCopy = "/etc/guestkit/legacy/gandi";
inline constexpr const char* kLegacyHooksCopy = "/etc/guestkit/legacy/hooks";
// Hooks without a #! line run through this shell, as the old gandi scripts' shell did.
inline constexpr const char* kBinSh = "/bin/sh";
// A new account's login shell when the image has it (else kBinSh).
inline constexpr const char* kBinBash = "/bin/bash";
// Where a new account's home goes when passwd does not say (useradd's HOME default).
inline constexpr const char* kHomeDir = "/home";
// Where programs are looked for and the PATH every child gets (core/exec.hpp): never
// the caller's PATH.
inline constexpr const char* kSafePath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// The temporary directory, when $TMPDIR says none (the tests' scratch trees).
inline constexpr const char* kTmpDir = "/tmp";
inline constexpr const char* kEtcPluginsDir = "/etc/guestkit/plugins.d";
inline constexpr const char* kLibPluginsDir = kPluginsLibDir;  // build_info.hpp

// runtime state (tmpfs)
// Exists while systemd-udevd has events queued or running (udevd's own marker;
// libudev's udev_queue_get_queue_is_empty() tests the same file): the boot's NIC
// coldplug waits for it to go (plugins/iface/coldplug.hpp).
inline constexpr const char* kUdevQueue = "/run/udev/queue";
inline constexpr const char* kRunDir = "/run/guestkit";
// Mode of guestkit's own top directories, kRunDir and kStateDir, whichever binary
// creates them first and whatever its umask (core::Root::mkdirs is the one path);
// config/tmpfiles.d/guestkit.conf gives the same. What must stay private below them
// has its own mode (lock/ 0700, caches and markers 0600).
inline constexpr unsigned kOwnDirMode = 0755;
inline constexpr const char* kLockDir = "/run/guestkit/lock";
inline constexpr const char* kRunsDir = "/run/guestkit/runs";
inline constexpr const char* kConfigCache = "/run/guestkit/config.cache";  // config_cache.hpp
inline constexpr const char* kAgentConfigCache = "/run/guestkit/agent-config.cache";
// guestkit-iface: one <if>.state per handled interface, DHCP client pid/lease files
inline constexpr const char* kIfaceStateDir = "/run/guestkit/iface";
inline constexpr const char* kDisksDir = "/run/guestkit/disks";  // one record per mounted disk
// One empty file per device of the root disk (05-mark-root-disk): guestkit-disk@.service
// is not started for those (ConditionPathExists=!).
inline constexpr const char* kRootDiskMarkDir = "/run/guestkit/root-disk";
inline constexpr const char* kSystemdRunDir = "/run/systemd/system";  // exists iff systemd is PID 1
inline constexpr const char* kInitdDir = "/etc/init.d";
inline constexpr const char* kPasswd = "/etc/passwd";
inline constexpr const char* kGroup = "/etc/group";
inline constexpr const char* kHostname = "/etc/hostname";

// guestkit-agent
inline constexpr const char* kAgentConfigFile = "/etc/guestkit/agent.yml";
// The platform-given instance id, the first source of core::find_instance_id.
inline constexpr const char* kAgentInstanceIdFile = "/etc/guestkit/instance-id";
inline constexpr const char* kProvisionedDir = "/var/lib/guestkit/provisioned";  // one marker per instance
inline constexpr const char* kXinetdEntry = "/etc/xinetd.d/guestkit-agent";
inline constexpr const char* kInetdConf = "/etc/inetd.conf";
inline constexpr const char* kXinetdPid = "/run/xinetd.pid";  // Debian's init script
inline constexpr const char* kInetdPid = "/run/inetd.pid";
inline constexpr const char* kSudoersDir = "/etc/sudoers.d";
inline constexpr const char* kShadow = "/etc/shadow";
inline constexpr const char* kGshadow = "/etc/gshadow";
inline constexpr const char* kLoginDefs = "/etc/login.defs";  // HOME_MODE, UMASK
inline constexpr const char* kSkelDir = "/etc/skel";          // a new home's first files

// guestkit-seed (plugins/seed): the last seed run's summary, without secrets
// (guestkit-boot report shows it), and the instance id the agent key was written for.
inline constexpr const char* kSeedReport = "/run/guestkit/seed.json";
inline constexpr const char* kAgentKeyInstanceFile = "/var/lib/guestkit/agent-key.instance";
// A seed's kernel modules go below kLibModulesDir/RELEASE/updates (plugins/seed/modules).
inline constexpr const char* kLibModulesDir = "/lib/modules";
// The disks' mountpoints' parent by default (disk.root, CONFIG_DISK_ROOT).
inline constexpr const char* kSrvDir = "/srv";

// system files plugins manage
inline constexpr const char* kMotd = "/etc/motd";
inline constexpr const char* kMotdOrig = "/etc/motd.guestkit-orig";
inline constexpr const char* kUpdateMotdDir = "/etc/update-motd.d";
inline constexpr const char* kUpdateMotdScript = "/etc/update-motd.d/50-guestkit";

// boot stages
inline constexpr const char* kBootReportPrefix = "/run/guestkit/boot-";  // + STAGE.json
inline constexpr const char* kStateDir = "/var/lib/guestkit";
inline constexpr const char* kInstanceIdFile = "/var/lib/guestkit/instance-id";  // last seen
inline constexpr const char* kPostbootDir = "/var/lib/guestkit/postboot";
inline constexpr const char* kPostbootDoneDir = "/var/lib/guestkit/postboot/done";
inline constexpr const char* kSysctlConf = "/etc/guestkit/sysctl.conf";
inline constexpr const char* kMachineId = "/etc/machine-id";
inline constexpr const char* kDbusMachineId = "/var/lib/dbus/machine-id";
inline constexpr const char* kSshDir = "/etc/ssh";
inline constexpr const char* kSshdConfig = "/etc/ssh/sshd_config";
inline constexpr const char* kSshdConfigDir = "/etc/ssh/sshd_config.d";
inline constexpr const char* kSshdDropin = "/etc/ssh/sshd_config.d/50-guestkit.conf";
// An order's ssh_pwauth (provision 50-set-ssh-pwauth): sorts before 50-*, and sshd
// takes the first value it reads.
inline constexpr const char* kSshdPwauthDropin = "/etc/ssh/sshd_config.d/40-guestkit-pwauth.conf";
inline constexpr const char* kHosts = "/etc/hosts";
inline constexpr const char* kFstab = "/etc/fstab";
inline constexpr const char* kFstabBackup = "/etc/fstab.guestkit-bak";
inline constexpr const char* kCrontab = "/etc/crontab";
// run-parts directories of /etc/crontab: kCronDirPrefix + "daily" etc.
inline constexpr const char* kCronDirPrefix = "/etc/cron.";
inline constexpr const char* kTimezoneFile = "/etc/timezone";
inline constexpr const char* kLocaltime = "/etc/localtime";
inline constexpr const char* kZoneinfoDir = "/usr/share/zoneinfo";
inline constexpr const char* kDebianVersion = "/etc/debian_version";
inline constexpr const char* kOsRelease = "/etc/os-release";
inline constexpr const char* kInittab = "/etc/inittab";
inline constexpr const char* kSecuretty = "/etc/securetty";
inline constexpr const char* kUpstartDir = "/etc/init";  // upstart job files
inline constexpr const char* kSbinInit = "/sbin/init";
// systemd's own binary: an image that has it boots with systemd (01-config-console).
inline constexpr const char* kSystemdBinary = "/lib/systemd/systemd";
inline constexpr const char* kSystemdUsrBinary = "/usr/lib/systemd/systemd";
// The getty that inittab lines and upstart jobs written by 01-config-console run.
inline constexpr const char* kGetty = "/sbin/getty";
inline constexpr const char* kSystemdEtcDir = "/etc/systemd/system";
inline constexpr const char* kSystemdLibDir = "/lib/systemd/system";
inline constexpr const char* kSystemdUsrLibDir = "/usr/lib/systemd/system";
inline constexpr const char* kLostFound = "/lost+found";
inline constexpr const char* kDevDir = "/dev";
inline constexpr const char* kDevPrefix = "/dev/";  // kDevDir + "/": "/dev/" + a kernel name

// network managers and init (guestkit-iface backend detection and hand-off)
inline constexpr const char* kNetworkdRunDir = "/run/systemd/network";  // runtime .network files
inline constexpr const char* kNetworkdState = "/run/systemd/netif/state";  // networkd running
inline constexpr const char* kNetworkdLinksDir = "/run/systemd/netif/links";  // per ifindex
inline constexpr const char* kNetworkManagerRunDir = "/run/NetworkManager";
// networkctl reaches networkd over D-Bus only: without the bus it cannot hand it a NIC.
inline constexpr const char* kSystemBusSocket = "/run/dbus/system_bus_socket";
inline constexpr const char* kIfupdownInterfaces = "/etc/network/interfaces";
inline constexpr const char* kIfupdownInterfacesDir = "/etc/network/interfaces.d";

// kernel interfaces
inline constexpr const char* kDevNull = "/dev/null";
inline constexpr const char* kSysClass = "/sys/class";
inline constexpr const char* kSysBus = "/sys/bus";
inline constexpr const char* kSysClassNet = "/sys/class/net";
// Character devices by number (MAJOR:MINOR), each with its `subsystem` link: the agent's
// serial transport tells a virtio-serial port from another serial line by it.
inline constexpr const char* kSysDevChar = "/sys/dev/char";
inline constexpr const char* kSysCpuOnline = "/sys/devices/system/cpu/online";
inline constexpr const char* kProcDir = "/proc";
// The running process's fds, host side: core::run_fd executes a checked fd by it.
inline constexpr const char* kProcSelfFd = "/proc/self/fd";
inline constexpr const char* kProcIpv4Conf = "/proc/sys/net/ipv4/conf";
inline constexpr const char* kSysClassBlock = "/sys/class/block";
inline constexpr const char* kSysDevBlock = "/sys/dev/block";
inline constexpr const char* kMountinfo = "/proc/self/mountinfo";
inline constexpr const char* kSwaps = "/proc/swaps";
inline constexpr const char* kSysCpuDir = "/sys/devices/system/cpu";        // cpuN/online
inline constexpr const char* kSysMemoryDir = "/sys/devices/system/memory";  // memoryN/state
inline constexpr const char* kProcZoneinfo = "/proc/zoneinfo";
inline constexpr const char* kProcCmdline = "/proc/cmdline";
inline constexpr const char* kProcConsoles = "/proc/consoles";
inline constexpr const char* kProcSys = "/proc/sys";
inline constexpr const char* kDmiProductUuid = "/sys/class/dmi/id/product_uuid";

// platform seeds (plugins/seed): SMBIOS structures (type 11 OEM strings: the agent key),
// the system serial (ds=nocloud;s=file://...), an image's own NoCloud seed directory
inline constexpr const char* kSysDmiEntries = "/sys/firmware/dmi/entries";
inline constexpr const char* kDmiProductSerial = "/sys/class/dmi/id/product_serial";
inline constexpr const char* kNoCloudSeedDir = "/var/lib/cloud/seed/nocloud";

}  // namespace guestkit::core::paths
