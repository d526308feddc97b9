// 10-coldplug-disks (boot stage "mount"): every data disk present at boot, as
// guestkit-disk --coldplug does (replaces gandi-mount).

#include "core/cli.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/disk/disk.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> coldplug_disks(PluginContext& p) {
  int code = disk::coldplug(p.ctx);
  if (code != core::kExitOk)
    return core::make_error(core::Errc::failed, "some disks could not be handled (see above)");
  return Outcome::changed;
}

}  // namespace guestkit::plugins::builtin
