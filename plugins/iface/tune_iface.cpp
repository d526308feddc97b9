// 40-tune-iface: per-interface kernel settings.
//
// * Every handled interface but the first (lowest index): arp_announce=2,
//   arp_filter=0, rp_filter=0 (iface.secondary_sysctls). With several NICs on one
//   host, ARP must announce and answer only the interface's own address, and replies
//   may leave by another NIC than the request came in on.
// * virtio-net with iface.multiqueue: combined channels = min(vCPUs, 8, device max),
//   through the ethtool ioctl. IPv6 settings are never touched (SLAAC stays on).

#include <algorithm>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/netdev.hpp"
#include "core/paths.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::iface {
namespace {

constexpr std::pair<const char*, const char*> kSecondarySysctls[] = {
    {"arp_announce", "2"}, {"arp_filter", "0"}, {"rp_filter", "0"}};
constexpr std::uint32_t kMaxQueues = 8;

// /proc/sys files are written in place (they cannot be renamed over); one that does
// not exist (an image tree, an interface gone) is skipped.
core::Result<bool> set_sysctl(const core::Context& ctx, const std::string& guest,
                              const char* value) {
  auto current = sysfs::read_attr(ctx.root, guest);
  if (!current) return std::move(current).error();
  if (!*current) {
    core::log_debug(guest, ": absent, ignoring");
    return false;
  }
  if (**current == value) return false;
  if (ctx.dry_run) {
    ctx.would("set " + ctx.root.display(guest) + " to " + value);
    return true;
  }
  if (auto written = sysfs::write_attr(ctx.root, guest, std::string(value) + "\n"); !written)
    return std::move(written).error();
  return true;
}

core::Result<bool> tune_queues(const core::Context& ctx, const iface::IfaceInfo& info) {
  const unsigned cpus = iface::online_cpus(ctx.root);
  if (!iface::live(ctx)) {
    ctx.would("set the combined channels of " + info.name + " to min(" + std::to_string(cpus) +
              " vCPUs, 8, device maximum)");
    return true;
  }
  auto ch = core::netdev::get_channels(info.name);
  if (!ch) {
    if (ch.error().code == std::errc::operation_not_supported) return false;
    return std::move(ch).error();
  }
  const std::uint32_t target =
      std::min({static_cast<std::uint32_t>(cpus), kMaxQueues, ch->max_combined});
  if (target == 0 || target == ch->combined) return false;
  if (auto s = core::netdev::set_combined_channels(info.name, target); !s)
    return std::move(s).error();
  core::log_info(info.name, ": ", target, " combined queues (was ", ch->combined, ")");
  return true;
}

}  // namespace

core::Result<Outcome> tune_iface(PluginContext& p) {
  const auto& cfg = p.ctx.config.iface;
  auto info = iface::read_iface(p.ctx.root, p.args.at(0));
  if (!info) return std::move(info).error();
  if (!info->present || !iface::why_not_handled(cfg, *info).empty()) return Outcome::skipped;
  bool changed = false;
  if (cfg.secondary_sysctls) {
    auto handled = iface::handled_ifaces(p.ctx.root, cfg);
    if (!handled) return std::move(handled).error();
    const bool first = !handled->empty() && handled->front().name == info->name;
    for (const auto& [key, value] : kSecondarySysctls) {
      if (first) break;
      auto set = set_sysctl(
          p.ctx, std::string(core::paths::kProcIpv4Conf) + "/" + info->name + "/" + key, value);
      if (!set) return std::move(set).error();
      changed = changed || *set;
    }
  }
  if (cfg.multiqueue && info->driver == "virtio_net") {
    auto q = tune_queues(p.ctx, *info);
    if (!q) return std::move(q).error();
    changed = changed || *q;
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::iface
