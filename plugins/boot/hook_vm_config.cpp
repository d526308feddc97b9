// 99-hook-vm-config (config, last): the admin's post-vm-config hook
// (hooks_dir/post-vm-config, no arguments), once the VM is configured at every boot,
// as the old gandi-config ran it. Under --root the hook belongs to the image, not to
// this machine: not run.

#include "plugins/boot/boot.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins::boot {

core::Result<Outcome> hook_vm_config(PluginContext& p) {
  if (!p.ctx.root.is_host()) {
    p.ctx.would("run hook post-vm-config (if present)");
    return Outcome::skipped;
  }
  auto ran = run_hook(p.ctx, "post-vm-config", {});
  if (!ran) return std::move(ran).error();
  return *ran ? Outcome::changed : Outcome::skipped;
}

}  // namespace guestkit::plugins::boot
