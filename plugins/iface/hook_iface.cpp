// 90-hook-attach-iface: the admin's post-iface-attach hook, once the interface is set
// up, once per attachment (a replayed add event or a coldplug after udev does not
// repeat it; the state file remembers until the remove);
// 10-hook-detach-iface: pre-iface-detach, first thing on remove, for interfaces
// guestkit handled. Both get the interface name as their argument. Both were named
// NN-hook-iface in 0.1.0: the old names still reach them (plugin.hpp kRenamedPlugins).

#include "plugins/external.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {
namespace {

core::Result<Outcome> hook(PluginContext& p, std::string_view hook_name) {
  // Under --root the hook belongs to an image, not to this machine.
  if (!p.ctx.root.is_host()) {
    p.ctx.would("run hook " + std::string(hook_name) + " " + p.args.at(0) + " (if present)");
    return Outcome::skipped;
  }
  auto ran = run_hook(p.ctx, std::string(hook_name), {p.args.at(0)});
  if (!ran) return std::move(ran).error();
  return *ran ? Outcome::changed : Outcome::skipped;
}

}  // namespace

core::Result<Outcome> hook_attach_iface(PluginContext& p) {
  auto info = iface::read_iface(p.ctx.root, p.args.at(0));
  if (!info) return std::move(info).error();
  if (!info->present || !iface::why_not_handled(p.ctx.config.iface, *info).empty())
    return Outcome::skipped;
  auto state = iface::read_state(p.ctx.root, p.args.at(0));
  if (!state) return std::move(state).error();
  if (*state && (*state)->attached) return Outcome::unchanged;
  auto ran = hook(p, "post-iface-attach");
  if (!iface::live(p.ctx)) return ran;
  // Recorded even when the hook failed: it saw the interface, and a retry on every
  // replayed event would only repeat the failure.
  iface::State s = *state ? **state : iface::State{};
  s.attached = true;
  if (auto w = iface::write_state(p.ctx.root, p.args.at(0), s); !w) return std::move(w).error();
  return ran;
}

core::Result<Outcome> hook_detach_iface(PluginContext& p) {
  // The interface is gone from sysfs by now: ours is what has a state file.
  auto state = iface::read_state(p.ctx.root, p.args.at(0));
  if (!state) return std::move(state).error();
  if (!*state) return Outcome::skipped;
  return hook(p, "pre-iface-detach");
}

}  // namespace guestkit::plugins::iface
