// 10-up-iface: bring a handled interface's link up.
//
// Also where an add is told apart from the interfaces guestkit leaves alone: the
// reason is logged once here, and every later iface plugin skips quietly.

#include <chrono>
#include <thread>

#include "core/log.hpp"
#include "core/netdev.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {

core::Result<Outcome> up_iface(PluginContext& p) {
  const std::string& name = p.args.at(0);
  auto info = iface::read_iface(p.ctx.root, name);
  if (!info) return std::move(info).error();
  if (!info->present) {
    core::log_info(name, ": no such interface (gone already?), ignoring");
    return Outcome::skipped;
  }
  if (auto why = iface::why_not_handled(p.ctx.config.iface, *info); !why.empty()) {
    core::log_info(name, ": not handled: ", why);
    return Outcome::skipped;
  }
  if (!iface::live(p.ctx)) {
    p.ctx.would("bring up the link of " + name);
    return Outcome::changed;
  }
  auto up = core::netdev::set_link_up(name);
  if (!up) {
    // Old Xen netfront kernels refused the first try while the backend connected.
    core::log_debug(name, ": ", up.error().message(), ", retrying once");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    up = core::netdev::set_link_up(name);
    if (!up) return std::move(up).error();
  }
  return *up ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::iface
