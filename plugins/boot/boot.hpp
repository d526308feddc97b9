#pragma once
// The boot-stage plugins that belong to no hotplug domain (registry.cpp, kBootTable),
// one file each in plugins/boot/. The mount stage's coldplug plugins live with their
// domains (disk, iface, cpu, memory), 00-apply-seed with the seed.

#include <string>
#include <vector>

#include "plugins/plugin.hpp"

namespace guestkit::plugins::boot {

// bootstrap
core::Result<Outcome> setup_swap(PluginContext& p);      // 01-setup-swap
core::Result<Outcome> apply_sysctl(PluginContext& p);    // 02-apply-sysctl
core::Result<Outcome> grow_root(PluginContext& p);       // 03-grow-root
core::Result<Outcome> reset_identity(PluginContext& p);  // 04-reset-identity
core::Result<Outcome> mark_root_disk(PluginContext& p);  // 05-mark-root-disk
// config
core::Result<Outcome> config_console(PluginContext& p);      // 01-config-console
core::Result<Outcome> check_system_files(PluginContext& p);  // 02-check-system-files
core::Result<Outcome> randomize_cron(PluginContext& p);      // 03-randomize-cron
core::Result<Outcome> set_timezone(PluginContext& p);        // 07-set-timezone
core::Result<Outcome> config_ssh(PluginContext& p);          // 11-config-ssh
core::Result<Outcome> set_motd(PluginContext& p);            // 13-set-motd
core::Result<Outcome> tune_ext_checks(PluginContext& p);     // 16-tune-ext-checks
core::Result<Outcome> hook_vm_config(PluginContext& p);      // 99-hook-vm-config
// postboot
core::Result<Outcome> run_postboot(PluginContext& p);  // 10-run-postboot

// 05-mark-root-disk's parts (mark_root_disk.cpp): the kernel names of the disk holding
// `root_name` and of every partition of it, `root_name` included, sorted (empty when
// sysfs knows no such disk); and the markers for `names` in kRootDiskMarkDir of
// ctx.root, any other marker there removed (true when something changed).
std::vector<std::string> root_disk_devices(const core::Root& host, const std::string& root_name);
core::Result<bool> write_root_disk_marks(const core::Context& ctx,
                                         const std::vector<std::string>& names);

// /etc/localtime and /etc/timezone for `zone` (set_timezone.cpp; 07-set-timezone and
// provision's 60-set-timezone).
core::Result<Outcome> set_zone(PluginContext& p, const std::string& zone);

}  // namespace guestkit::plugins::boot
