#pragma once
// guestkit.yml, validated into plain structs with defaults.
//
// Sources, later wins key by key:
//   1. built-in defaults (the values below; the shipped guestkit.yml only shows them,
//      every setting in it is a comment, so it overrides nothing)
//   2. the legacy gandi flags file: the first of /etc/default/gandi,
//      /etc/sysconfig/gandi and guestkit's copy /etc/guestkit/legacy/gandi that exists
//      (the copy outlives a purge of gandi-hosting-vm2)
//   3. /etc/guestkit/guestkit.yml (or --config FILE): the admin's settings
//   4. /etc/guestkit/guestkit.yml.d/*.yml (or FILE.d/*.yml), in bytewise name order
// Maps merge key by key; a list or scalar given later replaces the earlier one.
// A feature section accepts a bare boolean as shorthand: `motd: false` is
// `motd: {enabled: false}`.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/paths.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

struct FeatureConfig {
  bool enabled = true;
};

struct PluginsConfig {
  // Longest an external plugin (hotplug events; boot stages: boot.plugin_timeout) or
  // a hook may run before it is killed.
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  // Per-plugin switch by name ("13-set-motd": false); absent means enabled.
  std::map<std::string, bool> enabled;
};

struct DiskConfig {
  bool enabled = true;                                             // CONFIG_ALLOW_MOUNT
  std::vector<std::string> match{"vd*", "xvd*", "sd*", "nvme*n*"};  // kernel names, globs
  std::vector<std::string> ignore;                                  // kernel names, globs
  std::string root = paths::kSrvDir;                                // CONFIG_DISK_ROOT
  std::string mount_options = "rw,nosuid,nodev,noatime";            // CONFIG_MOUNT_PARAMS
  // Owner, group (names from the guest's /etc/passwd and /etc/group, or numbers) and
  // mode of the mountpoint directory; the old gandi scripts used 0, 1001, 0775.
  std::string owner = "root";
  std::string group = "root";
  unsigned mode = 0755;
  bool fsck = true;  // e2fsck -p an unpartitioned ext2/3/4 disk that is not clean
  bool grow = true;  // grow the filesystem to fill the device (resize2fs, xfs_growfs)
  // Longest e2fsck/resize2fs/xfs_growfs may run.
  std::chrono::milliseconds tool_timeout{std::chrono::minutes(10)};
};

struct IfaceConfig {
  bool enabled = true;
  // Interface names: a glob matches Ethernet NICs backed by a device; a name given
  // exactly also matches a virtual interface (veth, bridge, bond, vlan, tun/tap).
  std::vector<std::string> match{"eth*", "ens*", "enp*", "eno*"};
  std::vector<std::string> no_dhcp;  // CONFIG_NODHCP: brought up, left unconfigured
  bool multiqueue = true;            // CONFIG_MULTIQUEUE
  // Who does DHCP: auto (detected), networkd, networkmanager, ifupdown, none.
  std::string backend = "auto";
  // Client for the ifupdown/none backends: auto (dhclient, dhcpcd, udhcpc), or one.
  std::string dhcp_client = "auto";
  // How long an add waits for the lease before the route policy and the hook run
  // (the client keeps trying in the background after that).
  std::chrono::milliseconds dhcp_timeout{std::chrono::seconds(30)};
  // first-public: one IPv4 default route, via the first interface with a public
  // address; keep-all: leave default routes alone.
  std::string default_route = "first-public";
  // Base metric of DHCP routes; an interface gets route_metric + its ifindex, so
  // every interface's default route can coexist and the first NIC wins.
  std::uint32_t route_metric = 1024;
  // arp_announce=2, arp_filter=0, rp_filter=0 on every interface but the first.
  bool secondary_sysctls = true;
};

struct MotdConfig {
  bool enabled = true;  // CONFIG_MOTD
  // Text of the message of the day; empty means guestkit's built-in banner.
  std::string text;
};

struct CpuConfig {
  bool enabled = true;
  // How long a cpu-add event waits for the new CPU's `online` file to appear.
  std::chrono::milliseconds online_timeout{std::chrono::seconds(2)};
};

// The state a hot-added memory block is onlined into (memory.online_policy).
enum class MemoryPolicy {
  automatic,       // "auto": movable within movable_ratio x kernel-zone memory, else kernel
  online,          // whatever zone the kernel picks by default
  online_movable,  // ZONE_MOVABLE: can be unplugged again, never holds kernel data
  online_kernel,   // a kernel zone: usable for anything, rarely unpluggable
};
inline constexpr std::array<std::pair<std::string_view, MemoryPolicy>, 4> kMemoryPolicyNames{{
    {"auto", MemoryPolicy::automatic},
    {"online", MemoryPolicy::online},
    {"online_movable", MemoryPolicy::online_movable},
    {"online_kernel", MemoryPolicy::online_kernel},
}};
std::string_view policy_name(MemoryPolicy policy);

struct MemoryConfig {
  bool enabled = true;
  MemoryPolicy online_policy = MemoryPolicy::automatic;
  // auto: movable memory may grow to this many times the kernel-zone memory.
  double movable_ratio = 3;
  // Online blocks even when the kernel auto-onlines them (auto_online_blocks is not
  // "offline"); by default guestkit leaves them to the kernel.
  bool ignore_auto_online = false;
};

// guestkit-agent (config/agent.yml documents each key).
struct AgentConfig {
  std::string key_file = paths::kAgentKeyFile;  // guest path; hex, root-owned 0600
  std::string auth = "key";                           // key | none (trusted transports only)
  // Peer CIDRs ("10.0.0.0/8", "::1", "fd00::/8") or "unix"; empty: any peer.
  std::vector<std::string> allow_from;
  std::uint32_t max_message = 64u << 10;  // longest request line, bytes
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds session_timeout{std::chrono::seconds(300)};
  bool retire_after_provision = true;
};

// guestkit-boot STAGE.
struct BootConfig {
  // Longest an external boot plugin may run, and each external command a built-in
  // boot plugin runs (mkswap, growpart, ssh-keygen, tune2fs...).
  std::chrono::milliseconds plugin_timeout{std::chrono::seconds(60)};
  // Block device of the root filesystem; empty: the one mounted at the root (with
  // --root DIR, the filesystem mounted at DIR, if DIR is a mountpoint).
  std::string root_device;
};

struct SwapConfig {
  bool enabled = true;
  // Swap device; empty: seed::find_swap_device (labels swap/guestkitswap/gandiswap, fs
  // label swap, else the old platform's xvdz or sdb).
  // With --root only an explicit device is used.
  std::string device;
};

struct TimezoneConfig {
  bool enabled = true;  // CONFIG_TIMEZONE
  // Zone name (Europe/Paris); empty: the guestkit.tz= kernel argument, else the
  // image's own zone is left alone.
  std::string zone;
};

struct SshdConfig {
  bool enabled = true;  // CONFIG_SSHD
  // PermitRootLogin value guestkit enforces.
  std::string permit_root_login = "prohibit-password";
};

struct ExtChecksConfig {
  bool enabled = true;
  // tune2fs -c / -i for an ext3/4 root whose maximum mount count is -1 (checks off).
  std::uint32_t max_mount_count = 30;
  std::uint32_t interval_days = 180;
};

// guestkit-seed and 00-apply-seed (plugins/seed): the platform's first-boot seed.
struct SeedConfig {
  bool enabled = true;
  // Seed device (/dev/sr0, /dev/vdb); empty: discovered on the live system. With
  // --root only an explicit device (this, or guestkit-seed --device/--dir) is used.
  std::string device;
  // The user cloud-config's "default" entry, `password` and top-level
  // `ssh_authorized_keys` mean; empty: the cloud image's name for /etc/os-release's
  // ID (debian, ubuntu, fedora, rocky, almalinux, centos; cloud-user on RHEL).
  std::string default_user;
  // On the live system, when no seed is there at once: load the drivers of storage
  // devices udev has not set up yet (a seed cdrom's) and look again. It puts their
  // probe on the boot's path (ata_piix: 9 s under TCG in the e2e guest); an image for
  // a platform that never uses a cdrom or disk seed may turn it off.
  bool load_drivers = true;
};

struct PostbootConfig {
  bool enabled = true;
  // Longest a first-boot script may run.
  std::chrono::milliseconds timeout{std::chrono::minutes(25)};
};

struct Config {
  PluginsConfig plugins;
  BootConfig boot;
  AgentConfig agent;
  std::string hooks_dir = paths::kHooksDir;
  // gandi-hosting-vm2's hook directory (GANDI_HOOK_DIR): a hook not in hooks_dir is
  // looked up here, then in guestkit's copy /etc/guestkit/legacy/hooks.
  std::string legacy_hooks_dir = paths::kLegacyHooksDir;
  DiskConfig disk;
  IfaceConfig iface;
  MotdConfig motd;
  CpuConfig cpu;
  MemoryConfig memory;
  // Boot stage plugins.
  SwapConfig swap;            // 01-setup-swap
  FeatureConfig sysctl;       // 02-apply-sysctl, CONFIG_SYSCTL
  FeatureConfig grow_root;    // 03-grow-root
  FeatureConfig identity;     // 04-reset-identity
  FeatureConfig console;      // 01-config-console, CONFIG_CONSOLE
  FeatureConfig system_files; // 02-check-system-files
  FeatureConfig cron;         // 03-randomize-cron, CONFIG_CRON
  TimezoneConfig timezone;    // 07-set-timezone, CONFIG_TIMEZONE
  SshdConfig sshd;            // 11-config-ssh, CONFIG_SSHD
  ExtChecksConfig ext_checks; // 16-tune-ext-checks
  PostbootConfig postboot;    // 10-run-postboot
  SeedConfig seed;            // 00-apply-seed, guestkit-seed
  // Features that only have a switch so far.
  FeatureConfig hostname;    // CONFIG_HOSTNAME
  FeatureConfig nameserver;  // CONFIG_NAMESERVER
  FeatureConfig network;     // CONFIG_NETWORK

  // Host paths of the files that were read, in the order applied (for --debug).
  std::vector<std::string> sources;
  // Non-fatal findings while loading (legacy file oddities): "FILE:LINE: ...".
  std::vector<std::string> warnings;

  // Whether a feature switch by name ("motd", "disk", ...) is on; unknown names are on.
  bool feature_enabled(std::string_view feature) const;
  // Whether plugin `name` is switched on in plugins.enabled (absent: on).
  bool plugin_enabled(std::string_view name) const;
};

struct ConfigLoadOptions {
  // When set, read this host file instead of <root>/etc/guestkit/guestkit.yml, and
  // its drop-ins from FILE.d/ instead of <root>/etc/guestkit/guestkit.yml.d/.
  std::optional<std::filesystem::path> file;
  // Read the legacy gandi flags file (under the root) first.
  bool legacy = true;
  // Use and refresh the compiled copy in /run/guestkit/config.cache (with
  // `extra_files`: agent-config.cache; config_cache.hpp) instead of parsing YAML when
  // no source changed. Never with `file` (a host file the stamp does not cover).
  bool cache = false;
  // Guest paths read (when they exist) after the main file and before its drop-ins,
  // so drop-ins still win: guestkit-agent adds /etc/guestkit/agent.yml. Not read with
  // `file` (--config FILE names everything to read).
  std::vector<std::string> extra_files{};
};

// Loads and validates. On failure the Error's context holds every problem found,
// one per line, each "FILE:LINE:COL: message" (e.g. "unknown key 'disk.rooot'");
// the code is Errc::config. A missing main file is not an error (defaults apply);
// a missing --config FILE is.
Result<Config> load_config(const Root& root, const ConfigLoadOptions& options = {});

// Parses one YAML document onto `config` (the drop-in merge step). `name` is used in
// messages. Appends "NAME:LINE:COL: ..." lines to `errors`; returns false if any.
bool apply_yaml(Config& config, const std::string& text, const std::string& name,
                std::vector<std::string>& errors);

// Parses legacy `CONFIG_*=value` shell-variable text (no shell is run) onto `config`.
// Unknown variables are ignored; bad values become warnings.
void apply_legacy(Config& config, const std::string& text, const std::string& name);

// "120", "120s", "500ms", "2m", "1h" -> milliseconds. Bare numbers are seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// A tz database name: components of [A-Za-z0-9_+-] (not starting with '-' or '.'),
// joined by '/', at most 128 bytes: "UTC", "Europe/Paris", "America/Argentina/Salta".
// Nothing that could climb out of /usr/share/zoneinfo.
bool valid_zone_name(std::string_view name);

// A plugin name, the one rule for plugins.d files, postboot scripts, config switches
// (plugins.enabled) and the agent's order: like run-parts, [A-Za-z0-9][A-Za-z0-9_-]*
// (ASCII only, whatever the locale), at most 128 bytes, so editor backups and package
// leftovers ("05-x.dpkg-old", "05-x~", ".05-x.swp") are never run, and a name fits in
// file, lock and unit names.
bool valid_plugin_name(std::string_view name);

}  // namespace guestkit::core
