#include <algorithm>
#include <cctype>

#include "plugins/builtin/builtin.hpp"
#include "plugins/plugin.hpp"

namespace guestkit::plugins {

namespace {

// Every built-in plugin, one row each. Numbers are stable: users order their own
// plugins relative to them. Keep the rows sorted by name.
constexpr BuiltinPlugin kBuiltins[] = {
    {"10-coldplug-disks", "mount", "disk", false,
     "mount the data disks present at boot, drop records of vanished ones", &builtin::coldplug_disks},
    {"10-grow-disk", "disk-change", "disk", false, "grow the filesystem of a resized data disk",
     &builtin::grow_disk},
    {"10-mount-disk", "disk-add", "disk", false,
     "mount a data disk at <disk.root>/<label>, then run post-disk-attach", &builtin::mount_disk},
    {"13-set-motd", "config", "motd", false,
     "message of the day: /etc/motd, or a script in /etc/update-motd.d/", &builtin::set_motd},
    // 90: external disk-remove plugins numbered below run first, while the data is there.
    {"90-unmount-disk", "disk-remove", "disk", false,
     "pre-disk-detach, stop the disk's services, unmount, remove the mountpoint", &builtin::unmount_disk},
};

}  // namespace

std::span<const BuiltinPlugin> builtin_plugins() { return kBuiltins; }

bool BuiltinPlugin::serves(std::string_view trigger) const {
  std::string_view rest = triggers;
  while (!rest.empty()) {
    auto space = rest.find(' ');
    if (rest.substr(0, space) == trigger) return true;
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  return false;
}

bool is_trigger(std::string_view name) {
  return std::find(std::begin(kTriggers), std::end(kTriggers), name) != std::end(kTriggers);
}

bool is_boot_stage(std::string_view name) {
  return std::find(std::begin(kBootStages), std::end(kBootStages), name) != std::end(kBootStages);
}

bool valid_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

}  // namespace guestkit::plugins
