// 10-online-cpu (cpu-add) and 20-coldplug-cpus (mount): see online_cpu.hpp.

#include "plugins/cpu/online_cpu.hpp"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <thread>

#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::cpu {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kOnline = "online";  // cpuN/online, and the cpu dir's online list
constexpr auto kFirstDelay = std::chrono::milliseconds(1);
constexpr auto kMaxDelay = std::chrono::milliseconds(64);

std::string seconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", std::chrono::duration<double>(d).count());
  return buf;
}

// The kernel's list of online CPUs (/sys/devices/system/cpu/online); empty when
// missing or unreadable, which only makes us wait for an online file instead.
sysfs::Ranges online_list(const sysfs::Dir& cpus) {
  auto text = cpus.read(kOnline);
  if (!text || !*text) return {};
  return sysfs::parse_ranges(**text).value_or(sysfs::Ranges{});
}

// Writes 1 to cpuN/online. If the kernel refuses, a CPU that is online all the same
// (someone else won the race) is fine.
core::Result<Onlined> bring_up(const core::Context& ctx, const sysfs::Dir& cpu) {
  if (ctx.dry_run) {
    ctx.would("write 1 to " + cpu.display(kOnline));
    return Onlined{Result::onlined, "would write 1"};
  }
  auto written = cpu.write(kOnline, "1");
  if (written) return Onlined{Result::onlined, "wrote 1 to " + cpu.display(kOnline)};
  auto now = cpu.read(kOnline);
  if (now && *now && **now == "1")
    return Onlined{Result::already_online, "brought online meanwhile"};
  return std::move(written).error();
}

}  // namespace

core::Result<unsigned> check_name(std::string_view name) {
  if (auto id = sysfs::parse_indexed_name(name, "cpu")) return *id;
  return core::make_error(
      core::Errc::bad_input,
      "invalid CPU name '" + core::sanitize_for_log(name) + "' (expected cpuN)");
}

core::Result<Onlined> online(const core::Context& ctx, unsigned id) {
  if (id == 0) return Onlined{Result::boot_cpu, "cpu0 is the boot CPU, left alone"};
  const std::string name = "cpu" + std::to_string(id);
  auto cpus = sysfs::Dir::open(ctx.root, core::paths::kSysCpuDir);
  // A root without sysfs (an image being built): no CPU to bring up, nothing to wait for.
  if (!cpus && cpus.error().code == std::errc::no_such_file_or_directory)
    return Onlined{Result::no_sysfs, "no " + ctx.root.display(core::paths::kSysCpuDir)};
  if (!cpus) return std::move(cpus).error();

  const auto timeout = ctx.config.cpu.online_timeout;
  const auto deadline = Clock::now() + timeout;
  auto delay = std::chrono::duration_cast<Clock::duration>(kFirstDelay);
  bool present = false;
  for (;;) {
    auto cpu = cpus->child(name);
    if (cpu) {
      present = true;
      auto state = cpu->read(kOnline);
      if (!state) return std::move(state).error();
      if (*state) {
        if (**state == "1") return Onlined{Result::already_online, "online already"};
        return bring_up(ctx, *cpu);
      }
      // No online file, yet the kernel lists it as online: a CPU that cannot be
      // hot(un)plugged. Listed as offline (or no list): the file may still be coming.
      if (sysfs::in_ranges(online_list(*cpus), id))
        return Onlined{Result::not_hotpluggable, "online, no online file"};
    } else if (cpu.error().code != std::errc::no_such_file_or_directory) {
      return std::move(cpu).error();
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min(delay, deadline - now));
    delay = std::min(delay * 2, std::chrono::duration_cast<Clock::duration>(kMaxDelay));
  }
  const std::string where = cpus->display(name);
  return core::make_error(
      core::Errc::timed_out,
      present ? where + " has no online file after " + seconds(timeout) + " and is not online"
              : where + " did not appear within " + seconds(timeout));
}

core::Result<SweepReport> coldplug(const core::Context& ctx) {
  const auto start = Clock::now();
  SweepReport report;
  report.what = "cpu";
  report.prefix = "cpu";
  report.dry_run = ctx.dry_run;
  auto cpus = sysfs::Dir::open(ctx.root, core::paths::kSysCpuDir);
  if (!cpus && cpus.error().code == std::errc::no_such_file_or_directory) {
    report.skipped = "no " + ctx.root.display(core::paths::kSysCpuDir);
    return report;
  }
  if (!cpus) return std::move(cpus).error();
  auto names = ctx.root.list_dir(core::paths::kSysCpuDir, core::Follow::never);
  if (!names) return std::move(names).error();
  for (unsigned id : sysfs::indexed(*names, "cpu")) {
    if (id == 0) continue;
    auto cpu = cpus->child("cpu" + std::to_string(id));
    if (!cpu) {
      report.failures.emplace_back(id, std::move(cpu).error());
      continue;
    }
    auto state = cpu->read(kOnline);
    if (state && !*state) continue;  // not hotpluggable
    ++report.seen;
    if (state && **state == "1") {
      ++report.already;
      continue;
    }
    auto up = state ? bring_up(ctx, *cpu) : core::Result<Onlined>(std::move(state).error());
    if (!up) {
      report.failures.emplace_back(id, std::move(up).error());
    } else if (up->result == Result::onlined) {
      report.onlined.push_back(id);
    } else {
      ++report.already;
    }
  }
  report.duration = Clock::now() - start;
  return report;
}

core::Result<Status> status(const core::Root& root) {
  auto cpus = sysfs::Dir::open(root, core::paths::kSysCpuDir);
  if (!cpus) return std::move(cpus).error();
  auto names = root.list_dir(core::paths::kSysCpuDir, core::Follow::never);
  if (!names) return std::move(names).error();
  const auto listed = online_list(*cpus);
  Status st;
  for (unsigned id : sysfs::indexed(*names, "cpu")) {
    auto cpu = cpus->child("cpu" + std::to_string(id));
    if (!cpu) return std::move(cpu).error();
    auto state = cpu->read(kOnline);
    if (!state) return std::move(state).error();
    if (!*state) {
      st.fixed.push_back(id);
      // Without a file, the kernel's list decides; with no list, it is running (a CPU
      // that cannot be offlined is up).
      (listed.empty() || sysfs::in_ranges(listed, id) ? st.online : st.offline).push_back(id);
    } else {
      (**state == "1" ? st.online : st.offline).push_back(id);
    }
  }
  return st;
}

void print_status(std::ostream& os, const Status& st) {
  os << "online:  " << st.online.size() << " " << sysfs::format_ranges("cpu", st.online) << "\n"
     << "offline: " << st.offline.size() << " " << sysfs::format_ranges("cpu", st.offline) << "\n"
     << "fixed:   " << st.fixed.size() << " " << sysfs::format_ranges("cpu", st.fixed)
     << " (no online file: not hotpluggable)\n";
}

// The plugins: 10-online-cpu (cpu-add) and 20-coldplug-cpus (boot stage mount).


core::Result<Outcome> online_cpu(PluginContext& p) {
  if (p.args.empty()) return core::make_error(core::Errc::bad_input, "cpu-add needs a CPU name");
  auto id = cpu::check_name(p.args.front());
  if (!id) return std::move(id).error();
  auto done = cpu::online(p.ctx, *id);
  if (!done) return std::move(done).error();
  if (done->result == cpu::Result::onlined && !p.ctx.dry_run)
    core::log_info(p.args.front(), ": online");
  else
    core::log_debug(p.args.front(), ": ", done->detail);
  switch (done->result) {
    case cpu::Result::onlined:
      return Outcome::changed;
    case cpu::Result::already_online:
      return Outcome::unchanged;
    case cpu::Result::not_hotpluggable:
    case cpu::Result::boot_cpu:
    case cpu::Result::no_sysfs:
      break;
  }
  return Outcome::skipped;
}

core::Result<Outcome> coldplug_cpus(PluginContext& p) {
  auto report = cpu::coldplug(p.ctx);
  if (!report) return std::move(report).error();
  log_report(*report);
  return outcome(*report);
}

}  // namespace guestkit::plugins::cpu
