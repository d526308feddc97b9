#pragma once
// Entry points of the built-in plugins, one file each under plugins/builtin/.

#include "plugins/plugin.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> coldplug_ifaces(PluginContext& p);  // 30-coldplug-ifaces
core::Result<Outcome> up_iface(PluginContext& p);         // 10-up-iface
core::Result<Outcome> dhcp_iface(PluginContext& p);       // 20-dhcp-iface
core::Result<Outcome> route_iface(PluginContext& p);      // 30-route-iface
core::Result<Outcome> tune_iface(PluginContext& p);       // 40-tune-iface
core::Result<Outcome> hook_attach_iface(PluginContext& p);  // 90-hook-iface
core::Result<Outcome> hook_detach_iface(PluginContext& p);  // 10-hook-iface
core::Result<Outcome> set_motd(PluginContext& p);        // 13-set-motd
core::Result<Outcome> mount_disk(PluginContext& p);      // 10-mount-disk
core::Result<Outcome> grow_disk(PluginContext& p);       // 10-grow-disk
core::Result<Outcome> unmount_disk(PluginContext& p);    // 90-unmount-disk
core::Result<Outcome> coldplug_disks(PluginContext& p);  // 10-coldplug-disks
core::Result<Outcome> online_cpu(PluginContext& p);       // 10-online-cpu (online_cpu.cpp)
core::Result<Outcome> online_memory(PluginContext& p);    // 10-online-memory (online_memory.cpp)
core::Result<Outcome> set_motd(PluginContext& p);         // 13-set-motd
core::Result<Outcome> coldplug_cpus(PluginContext& p);    // 20-coldplug-cpus (online_cpu.cpp)
core::Result<Outcome> coldplug_memory(PluginContext& p);  // 21-coldplug-memory (online_memory.cpp)

core::Result<Outcome> set_hostname(PluginContext& p);       // 10-set-hostname (provision.cpp)
core::Result<Outcome> set_root_password(PluginContext& p);  // 20-set-root-password
core::Result<Outcome> create_admin_user(PluginContext& p);  // 30-create-admin-user
core::Result<Outcome> install_ssh_keys(PluginContext& p);   // 40-install-ssh-keys
// The steps seeds brought to the order (provision_users.cpp).
core::Result<Outcome> create_users(PluginContext& p);        // 35-create-users
core::Result<Outcome> set_ssh_pwauth(PluginContext& p);      // 50-set-ssh-pwauth
core::Result<Outcome> set_order_timezone(PluginContext& p);  // 60-set-timezone
core::Result<Outcome> queue_postboot(PluginContext& p);      // 70-queue-postboot
// /etc/localtime and /etc/timezone for `zone` (set_timezone.cpp; 07-set-timezone and
// 60-set-timezone).
core::Result<Outcome> set_zone(PluginContext& p, const std::string& zone);
// Boot stages (registry.cpp, kBootTable), one file each.
core::Result<Outcome> apply_seed(PluginContext& p);        // 00-apply-seed (plugins/seed/)
core::Result<Outcome> setup_swap(PluginContext& p);        // 01-setup-swap
core::Result<Outcome> apply_sysctl(PluginContext& p);      // 02-apply-sysctl
core::Result<Outcome> grow_root(PluginContext& p);         // 03-grow-root
core::Result<Outcome> reset_identity(PluginContext& p);    // 04-reset-identity
core::Result<Outcome> config_console(PluginContext& p);    // 01-config-console
core::Result<Outcome> check_system_files(PluginContext& p);  // 02-check-system-files
core::Result<Outcome> randomize_cron(PluginContext& p);    // 03-randomize-cron
core::Result<Outcome> set_timezone(PluginContext& p);      // 07-set-timezone
core::Result<Outcome> config_ssh(PluginContext& p);        // 11-config-ssh
core::Result<Outcome> tune_ext_checks(PluginContext& p);   // 16-tune-ext-checks
core::Result<Outcome> hook_vm_config(PluginContext& p);    // 99-hook-vm-config
core::Result<Outcome> run_postboot(PluginContext& p);      // 10-run-postboot

}  // namespace guestkit::plugins::builtin
