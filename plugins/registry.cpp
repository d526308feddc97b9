// The registry: every built-in plugin, one row each, in explicit tables (no
// static-initialiser self registration). Rows live with their domain
// (registry_disk.cpp, registry_iface.cpp, registry_cpu_memory.cpp,
// registry_provision.cpp) so each udev helper
// links only its own; the boot stages run them all, from builtin_plugins() below.

#include <algorithm>
#include <vector>

#include "plugins/boot/boot.hpp"
#include "plugins/seed/apply.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {
namespace {

// Plugins of the boot stages that belong to no hotplug domain.
// Numbers are stable: admins order their plugins.d executables around them.
constexpr BuiltinPlugin kBootTable[] = {
    // bootstrap: early, before the network
    {"00-apply-seed", "bootstrap", "seed", false,
     "the platform's seed (in-swap tar, NoCloud, ConfigDrive): provision once per instance",
     &seed::apply_seed},
    {"01-setup-swap", "bootstrap", "swap", false,
     "enable the swap device (mkswap -L swap only when blank)", &boot::setup_swap},
    {"02-apply-sysctl", "bootstrap", "sysctl", false, "apply /etc/guestkit/sysctl.conf",
     &boot::apply_sysctl},
    {"03-grow-root", "bootstrap", "grow_root", false,
     "grow the root disk's last GPT partition and the root filesystem", &boot::grow_root},
    {"04-reset-identity", "bootstrap", "identity", false,
     "new machine-id and SSH host keys on a new instance id (a clone)", &boot::reset_identity},
    {"05-mark-root-disk", "bootstrap", "disk", false,
     "mark the root disk's devices, whose guestkit-disk@ units systemd then leaves unstarted",
     &boot::mark_root_disk},
    // config
    {"01-config-console", "config", "console", false,
     "a getty on each console in /proc/consoles; /etc/securetty lists them",
     &boot::config_console},
    {"02-check-system-files", "config", "system_files", false,
     "localhost in /etc/hosts; the root in /etc/fstab by UUID, not device name",
     &boot::check_system_files},
    {"03-randomize-cron", "config", "cron", false,
     "per-VM minute and hour for /etc/crontab's periodic jobs", &boot::randomize_cron},
    {"07-set-timezone", "config", "timezone", false,
     "time zone from timezone.zone or guestkit.tz=: /etc/localtime, /etc/timezone",
     &boot::set_timezone},
    {"11-config-ssh", "config", "sshd", false,
     "missing SSH host keys; PermitRootLogin, PermitEmptyPasswords", &boot::config_ssh},
    {"13-set-motd", "config", "motd", false,
     "message of the day: /etc/motd, or a script in /etc/update-motd.d/", &boot::set_motd},
    {"16-tune-ext-checks", "config", "ext_checks", false,
     "periodic e2fsck for an ext3/4 root that has none; /lost+found", &boot::tune_ext_checks},
    {"99-hook-vm-config", "config", "", false, "the hook post-vm-config, last",
     &boot::hook_vm_config},
    // postboot
    {"10-run-postboot", "postboot", "postboot", false,
     "the first-boot scripts in /var/lib/guestkit/postboot/, once each", &boot::run_postboot},
};

}  // namespace

std::span<const BuiltinPlugin> builtin_plugins() {
  static const std::vector<BuiltinPlugin> all = [] {
    std::vector<BuiltinPlugin> rows;
    for (auto table : {std::span<const BuiltinPlugin>(kBootTable), disk_plugins(), iface_plugins(),
                       cpu_memory_plugins(), provision_plugins()})
      rows.insert(rows.end(), table.begin(), table.end());
    std::sort(rows.begin(), rows.end(),
              [](const BuiltinPlugin& a, const BuiltinPlugin& b) { return a.name < b.name; });
    return rows;
  }();
  return all;
}

}  // namespace guestkit::plugins
