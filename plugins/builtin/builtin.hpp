#pragma once
// Entry points of the built-in plugins, one file each under plugins/builtin/.

#include "plugins/plugin.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> set_motd(PluginContext& p);        // 13-set-motd
core::Result<Outcome> mount_disk(PluginContext& p);      // 10-mount-disk
core::Result<Outcome> grow_disk(PluginContext& p);       // 10-grow-disk
core::Result<Outcome> unmount_disk(PluginContext& p);    // 90-unmount-disk
core::Result<Outcome> coldplug_disks(PluginContext& p);  // 10-coldplug-disks

}  // namespace guestkit::plugins::builtin
