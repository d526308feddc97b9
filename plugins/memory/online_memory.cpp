// 10-online-memory (memory-add) and 21-coldplug-memory (mount): see online_memory.hpp.

#include "plugins/memory/online_memory.hpp"

#include <unistd.h>

#include <ostream>

#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins::memory {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kState = "state";
constexpr std::string_view kValidZones = "valid_zones";
constexpr std::string_view kBlockSize = "block_size_bytes";
constexpr std::string_view kAutoOnline = "auto_online_blocks";
constexpr std::size_t kZoneinfoLimit = 1 << 20;
// Held while a process weighs and books zone sizes (Onliner::open). A boot sweep of
// thousands of real blocks can take seconds; udev's own timeout is minutes.
constexpr std::string_view kZonesLock = "memory-zones";
constexpr auto kZonesLockTimeout = std::chrono::seconds(60);

bool is_online(std::string_view state) {
  return state.rfind("online", 0) == 0;
}

// Zone sizes from /proc/zoneinfo (why this file: memory_zones.hpp); std::nullopt when
// unreadable, which makes `auto` let the kernel pick.
std::optional<ZoneTotals> read_zones(const core::Root& root) {
  auto text = core::read_file_if_exists(root, core::paths::kProcZoneinfo, kZoneinfoLimit,
                                        core::Follow::never);
  if (!text || !*text) {
    core::log_debug(root.display(core::paths::kProcZoneinfo), ": ",
                    text ? "missing" : text.error().message(), ", zone sizes unknown");
    return std::nullopt;
  }
  return parse_zoneinfo(**text, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
}

}  // namespace

core::Result<unsigned> check_name(std::string_view name) {
  if (auto id = sysfs::parse_indexed_name(name, "memory")) return *id;
  return core::make_error(
      core::Errc::bad_input,
      "invalid memory block name '" + core::sanitize_for_log(name) + "' (expected memoryN)");
}

core::Result<Onliner> Onliner::open(const core::Context& ctx) {
  auto dir = sysfs::Dir::open(ctx.root, core::paths::kSysMemoryDir);
  if (!dir) return std::move(dir).error();
  Onliner o(ctx, std::move(dir).value());
  auto size = o.dir_.read(kBlockSize);
  if (!size) return std::move(size).error();
  // Hexadecimal without "0x" ("8000000" is 128 MiB); unreadable is 0 (no onlining).
  if (*size) o.block_size_ = sysfs::parse_hex_u64(**size).value_or(0);
  auto automatic = o.dir_.read(kAutoOnline);
  if (!automatic) return std::move(automatic).error();
  if (*automatic) o.auto_online_ = **automatic;  // absent before Linux 4.7: never auto
  if (o.defer_reason()) return o;                // nothing will be decided
  if (ctx.config.memory.online_policy == core::MemoryPolicy::automatic) {
    // Dry-run changes nothing, not even a lock file, and decides nothing for real.
    if (!ctx.dry_run) {
      auto lock = core::Lock::acquire(ctx.root, kZonesLock, kZonesLockTimeout);
      if (!lock) return std::move(lock).error();
      o.zones_lock_ = std::move(lock).value();
    }
    o.zones_ = read_zones(ctx.root);
  }
  return o;
}

std::optional<std::string> Onliner::defer_reason() const {
  if (auto_online_ == "offline" || ctx_->config.memory.ignore_auto_online) return std::nullopt;
  return "the kernel onlines new memory itself (auto_online_blocks: " + auto_online_ +
         "; memory.ignore_auto_online: true would override)";
}

core::Result<Onlined> Onliner::online(unsigned id, bool explain) {
  auto block = dir_.child("memory" + std::to_string(id));
  if (!block) return std::move(block).error();
  auto state = block->read(kState);
  if (!state) return std::move(state).error();
  if (!*state)
    return core::make_error(std::make_error_code(std::errc::no_such_file_or_directory),
                            block->display(kState));
  if (is_online(**state)) return Onlined{Result::already_online, "", "online already"};
  // "going-offline" and the like: someone else is at work on the block.
  if (**state != "offline") return Onlined{Result::left, "", "state is '" + **state + "'"};

  // valid_zones (absent without CONFIG_MEMORY_HOTREMOVE) says which zones the kernel
  // would take this block into. Reading it for every block of a sweep would cost a
  // third more system calls for a hint that only matters when the kernel refuses the
  // ratio's pick, so it is read then (and up front in dry-run, to predict the same).
  const bool automatic = ctx_->config.memory.online_policy == core::MemoryPolicy::automatic;
  const bool why = explain || ctx_->dry_run;
  const auto valid_zones = [&]() -> std::string {
    auto zones = block->read(kValidZones);
    return zones && *zones ? **zones : "";
  };
  const auto write_state = [&](std::string_view value) {
    return write_ ? write_(*block, kState, value) : block->write(kState, value);
  };
  Decision d = decide(ctx_->config.memory, zones_, block_size_,
                      automatic && ctx_->dry_run ? valid_zones() : "", why);
  if (ctx_->dry_run) {
    ctx_->would("write " + std::string(d.state) + " to " + block->display(kState) + " (" + d.why +
                ")");
  } else if (auto written = write_state(d.state); !written) {
    // Writing a state the block is already in is EINVAL: a distribution rule or the
    // kernel may have onlined it between our read and our write.
    auto now = block->read(kState);
    if (now && *now && is_online(**now))
      return Onlined{Result::already_online, "", "onlined meanwhile"};
    // The kernel does not offer the zone the ratio picked for this block: the other kind.
    const Decision other =
        automatic && written.error().code == std::errc::invalid_argument
            ? decide(ctx_->config.memory, zones_, block_size_, valid_zones(), why)
            : d;
    if (other.state == d.state) return std::move(written).error();
    if (auto retried = write_state(other.state); !retried) return std::move(retried).error();
    d = other;
  }
  if (zones_) account(*zones_, d.state, block_size_);
  return Onlined{Result::onlined, std::string(d.state), d.why};
}

core::Result<SweepReport> coldplug(const core::Context& ctx) {
  const auto start = Clock::now();
  SweepReport report;
  report.what = "memory block";
  report.prefix = "memory";
  report.dry_run = ctx.dry_run;
  auto onliner = Onliner::open(ctx);
  if (!onliner && onliner.error().code == std::errc::no_such_file_or_directory) {
    report.skipped = "no " + ctx.root.display(core::paths::kSysMemoryDir) + " (no memory hotplug)";
    return report;
  }
  if (!onliner) return std::move(onliner).error();
  if (auto why = onliner->defer_reason()) {
    report.skipped = *why;
    return report;
  }
  auto names = ctx.root.list_dir(core::paths::kSysMemoryDir, core::Follow::never);
  if (!names) return std::move(names).error();
  // Ascending addresses: older kernels only accept ZONE_MOVABLE above ZONE_NORMAL.
  for (unsigned id : sysfs::indexed(*names, "memory")) {
    ++report.seen;
    auto done = onliner->online(id, false);
    if (!done) {
      report.failures.emplace_back(id, std::move(done).error());
    } else if (done->result == Result::onlined) {
      report.onlined.push_back(id);
    } else if (done->result == Result::already_online) {
      ++report.already;
    }
  }
  report.duration = Clock::now() - start;
  return report;
}

core::Result<Status> status(const core::Context& ctx) {
  auto dir = sysfs::Dir::open(ctx.root, core::paths::kSysMemoryDir);
  if (!dir) return std::move(dir).error();
  auto names = ctx.root.list_dir(core::paths::kSysMemoryDir, core::Follow::never);
  if (!names) return std::move(names).error();
  Status st;
  for (unsigned id : sysfs::indexed(*names, "memory")) {
    auto block = dir->child("memory" + std::to_string(id));
    if (!block) return std::move(block).error();
    auto state = block->read(kState);
    if (!state) return std::move(state).error();
    const std::string s = state->value_or("");
    (is_online(s) ? st.online : s == "offline" ? st.offline : st.other).push_back(id);
  }
  auto size = dir->read(kBlockSize);
  if (size && *size) st.block_size = sysfs::parse_hex_u64(**size).value_or(0);
  auto automatic = dir->read(kAutoOnline);
  st.auto_online = automatic && *automatic ? **automatic : "offline (no auto_online_blocks)";
  st.zones = read_zones(ctx.root);
  return st;
}

void print_status(std::ostream& os, const Status& st, const core::MemoryConfig& config) {
  const auto line = [&](const char* label, const std::vector<unsigned>& ids) {
    os << label << ids.size() << " " << sysfs::format_ranges("memory", ids);
    if (st.block_size && !ids.empty())
      os << " (" << sysfs::format_bytes(ids.size() * st.block_size) << ")";
    os << "\n";
  };
  line("online:  ", st.online);
  line("offline: ", st.offline);
  if (!st.other.empty()) line("other:   ", st.other);
  os << "block size: " << (st.block_size ? sysfs::format_bytes(st.block_size) : "unknown") << "\n"
     << "kernel auto-online: " << st.auto_online << "\n"
     << "policy: " << core::policy_name(config.online_policy);
  if (config.online_policy == core::MemoryPolicy::automatic)
    os << " (movable_ratio " << config.movable_ratio << ")";
  if (config.ignore_auto_online) os << ", ignore_auto_online";
  os << "\n";
  if (st.zones)
    os << "zones: kernel " << sysfs::format_bytes(st.zones->kernel) << ", movable "
       << sysfs::format_bytes(st.zones->movable) << "\n";
  else
    os << "zones: unknown (no /proc/zoneinfo)\n";
}

// The plugins: 10-online-memory (memory-add) and 21-coldplug-memory (boot stage mount).


core::Result<Outcome> online_memory(PluginContext& p) {
  if (p.args.empty())
    return core::make_error(core::Errc::bad_input, "memory-add needs a block name");
  auto id = memory::check_name(p.args.front());
  if (!id) return std::move(id).error();
  auto onliner = memory::Onliner::open(p.ctx);
  if (!onliner && onliner.error().code == std::errc::no_such_file_or_directory) {
    core::log_debug(p.args.front(), ": ", onliner.error().message(), " (no memory hotplug)");
    return Outcome::skipped;
  }
  if (!onliner) return std::move(onliner).error();
  if (auto why = onliner->defer_reason()) {
    core::log_debug(p.args.front(), ": ", *why);
    return Outcome::skipped;
  }
  auto done = onliner->online(*id);
  if (!done) return std::move(done).error();
  // Which zone a block went to decides whether it can be unplugged again: worth a line.
  if (done->result == memory::Result::onlined && !p.ctx.dry_run)
    core::log_info(p.args.front(), ": ", done->state, " (", done->detail, ")");
  else
    core::log_debug(p.args.front(), ": ", done->detail);
  switch (done->result) {
    case memory::Result::onlined:
      return Outcome::changed;
    case memory::Result::already_online:
      return Outcome::unchanged;
    case memory::Result::left:
      break;
  }
  return Outcome::skipped;
}

// A kernel built to online hot-added memory itself (Debian 13's:
// CONFIG_MHP_DEFAULT_ONLINE_TYPE_ONLINE_AUTO) does it before udev sees the block, into
// the zone of its own policy (ZONE_NORMAL next to the boot memory, which the platform
// cannot unplug again): memory.online_policy would never apply. That is how the kernel
// was built, not a choice made for this VM; memhp_default_state= on the kernel command
// line is one, and is kept (as is a kernel that leaves memory offline). Otherwise the
// boot hands the decision to guestkit: auto_online_blocks = offline.
core::Result<bool> take_back_auto_online(const core::Context& ctx) {
  if (core::kernel_arg(ctx.root, "memhp_default_state")) return false;
  auto dir = sysfs::Dir::open(ctx.root, core::paths::kSysMemoryDir);
  if (!dir) {
    if (dir.error().code == std::errc::no_such_file_or_directory) return false;  // no hotplug
    return std::move(dir).error();
  }
  auto automatic = dir->read(kAutoOnline);
  if (!automatic) return std::move(automatic).error();
  if (!*automatic || **automatic == "offline") return false;
  const std::string was = **automatic;
  if (ctx.dry_run) {
    ctx.would("write offline to " + dir->display(kAutoOnline) + " (the kernel's built-in " + was +
              ": memory.online_policy decides)");
    return true;
  }
  if (auto ok = dir->write(kAutoOnline, "offline"); !ok) return std::move(ok).error();
  core::log_info("auto_online_blocks: offline (the kernel was built to online hot-added memory ",
                 "itself, as ", was, "; memory.online_policy decides; memhp_default_state= on the ",
                 "kernel command line would keep the kernel's way)");
  return true;
}

core::Result<Outcome> coldplug_memory(PluginContext& p) {
  auto taken = take_back_auto_online(p.ctx);
  if (!taken) return std::move(taken).error();
  auto report = memory::coldplug(p.ctx);
  if (!report) return std::move(report).error();
  log_report(*report);
  return outcome(*report);
}

}  // namespace guestkit::plugins::memory
