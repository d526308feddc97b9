// 10-grow-disk (disk-change): grow the filesystem of a resized disk.
// The logic is in plugins/disk/; this is the plugin's entry point.

#include "plugins/boot/boot.hpp"
#include "plugins/disk/disk.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> grow_disk(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "no device given");
  return disk::grow(p.ctx, p.args.front());
}

}  // namespace guestkit::plugins::builtin
