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

}  // namespace guestkit::plugins::builtin
