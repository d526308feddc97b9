// 90-unmount-disk (disk-remove): hooks, services, unmount, clean up.
// The logic is in plugins/disk/; this is the plugin's entry point.

#include "plugins/boot/boot.hpp"
#include "plugins/disk/disk.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> unmount_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return disk::detach(p.ctx, p.args.front());
}

}  // namespace guestkit::plugins::builtin
