// 10-mount-disk (disk-add): mount a data disk at <disk.root>/<label>.
// The logic is in plugins/disk/; this is the plugin's entry point.

#include "plugins/boot/boot.hpp"
#include "plugins/disk/disk.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> mount_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return disk::attach(p.ctx, p.args.front());
}

}  // namespace guestkit::plugins::builtin
