// What guestkit manages, in one answer: see status.hpp.

#include "plugins/status/status.hpp"

#include <sys/stat.h>

#include <chrono>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/cpu/online_cpu.hpp"
#include "plugins/disk/records.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/memory/online_memory.hpp"
#include "plugins/plugin.hpp"
#include "plugins/runner.hpp"

namespace guestkit::plugins::status {
namespace {

using nlohmann::json;

std::optional<json> read_json(const core::Root& root, const std::string& guest) {
  auto text = core::read_file_if_exists(root, guest, 1 << 20, core::Follow::never);
  if (!text || !*text) return std::nullopt;
  auto j = json::parse(**text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

std::int64_t mtime(const core::Root& root, const std::string& guest) {
  auto st = root.lstat(guest);
  return st && *st ? static_cast<std::int64_t>((*st)->st_mtim.tv_sec) : 0;
}

std::string runs(const std::string& name) {
  return std::string(core::paths::kRunsDir) + "/" + name;
}

// The time of the last run record among `paths` whose run changed something (or did,
// for records without per-plugin status), 0 if none.
std::int64_t last_change(const core::Root& root, const std::vector<std::string>& paths) {
  std::int64_t best = 0;
  for (const auto& p : paths) {
    auto j = read_json(root, p);
    if (!j) continue;
    std::int64_t t = 0;
    if (j->contains("finished") && (*j)["finished"].is_number())
      t = (*j)["finished"].get<std::int64_t>();
    else if (j->contains("at") && (*j)["at"].is_number())
      t = (*j)["at"].get<std::int64_t>();
    best = std::max(best, t);
  }
  return best;
}

json boot(const core::Root& root) {
  json stages = json::object();
  int worst = 0;
  bool all = true, any = false;
  for (auto stage : kBootStages) {
    const std::string path =
        std::string(core::paths::kBootReportPrefix) + std::string(stage) + ".json";
    auto j = read_json(root, path);
    if (!j) {
      stages[std::string(stage)] = {{"state", "pending"}};
      all = false;
      continue;
    }
    any = true;
    const int code = j->value("exit_code", 2);
    worst = std::max(worst, code);
    json failed = json::array();
    if (j->contains("plugins") && (*j)["plugins"].is_array())
      for (const auto& p : (*j)["plugins"])
        if (p.is_object() && p.value("status", "") == "failed")
          failed.push_back(p.value("name", ""));
    stages[std::string(stage)] = {{"state", code == 0   ? "ok"
                                            : code == 1 ? "partial"
                                                        : "failed"},
                                  {"exit_code", code},
                                  {"started", j->value("started", std::int64_t{0})},
                                  {"finished", j->value("finished", std::int64_t{0})},
                                  {"duration_ms", j->value("duration_ms", 0.0)},
                                  {"failed", failed}};
  }
  return {{"state", all   ? "done"
                    : any ? "running"
                          : "pending"},
          {"exit_code", !all ? std::max(worst, 1) : worst},
          {"stages", stages}};
}

}  // namespace

json collect(const core::Context& ctx, const std::string& instance_id) {
  const core::Root& root = ctx.root;
  json out = {{"instance_id", instance_id}};

  const std::string marker = std::string(core::paths::kProvisionedDir) + "/" + instance_id;
  const std::int64_t provisioned = instance_id.empty() ? 0 : mtime(root, marker);
  // A bool, as in the greeting; since when in its own member.
  out["provisioned"] = provisioned != 0;
  if (provisioned) out["provisioned_since"] = provisioned;
  out["boot"] = boot(root);
  if (auto seed = read_json(root, core::paths::kSeedReport)) {
    (*seed)["since"] = mtime(root, core::paths::kSeedReport);
    out["seed"] = *seed;
  }

  json disks = json::array();
  std::vector<std::string> problems;
  if (auto recs = disk::list_records(root, &problems))
    for (const auto& r : *recs)
      disks.push_back({{"name", r.name},
                       {"devname", r.devname},
                       {"mountpoint", r.mountpoint},
                       {"fstype", r.fstype},
                       {"label", r.label},
                       {"since", r.since}});
  out["disks"] = disks;

  json ifaces = json::array();
  if (auto names = root.list_dir(core::paths::kIfaceStateDir, core::Follow::never))
    for (const auto& n : *names) {
      if (!n.ends_with(".state")) continue;
      const std::string name = n.substr(0, n.size() - 6);
      json i = {{"name", name}, {"since", mtime(root, iface::state_path(name))}};
      if (auto st = iface::read_state(root, name); st && *st) {
        i["backend"] = (*st)->backend;
        i["dhcp"] = (*st)->dhcp;
        i["attached"] = (*st)->attached;
      }
      ifaces.push_back(i);
    }
  out["interfaces"] = ifaces;

  // The boot's mount stage, every object's record of the hotplug trigger (and the
  // single record of older releases), the last prepare-unplug.
  const auto since_records = [](const core::Root& r, std::string_view trigger) {
    std::vector<std::string> paths = record_paths(r, trigger);
    paths.push_back(std::string(core::paths::kBootReportPrefix) + "mount.json");
    paths.push_back(runs(kPrepareUnplugRecord));
    return paths;
  };
  if (auto c = cpu::status(root)) {
    out["cpus"] = {{"online", sysfs::format_ranges("cpu", c->online)},
                   {"offline", sysfs::format_ranges("cpu", c->offline)},
                   {"fixed", sysfs::format_ranges("cpu", c->fixed)},
                   {"online_count", c->online.size()},
                   {"since", last_change(root, since_records(root, "cpu-add"))}};
  }
  if (auto m = memory::status(ctx)) {
    json zones = nullptr;
    if (m->zones) zones = {{"kernel", m->zones->kernel}, {"movable", m->zones->movable}};
    out["memory"] = {{"online", sysfs::format_ranges("memory", m->online)},
                     {"offline", sysfs::format_ranges("memory", m->offline)},
                     {"block_size", m->block_size},
                     {"online_bytes", m->online.size() * m->block_size},
                     {"offline_bytes", m->offline.size() * m->block_size},
                     {"auto_online", m->auto_online},
                     {"zones", zones},
                     {"since", last_change(root, since_records(root, "memory-add"))}};
  }
  json last = json::object();
  if (auto j = read_json(root, runs(kPrepareDetachRecord))) last["detach"] = *j;
  if (auto j = read_json(root, runs(kPrepareUnplugRecord))) last["unplug"] = *j;
  if (!last.empty()) out["last_prepare"] = last;
  return out;
}

int boot_exit_code(const json& status) {
  return status.contains("boot") ? status["boot"].value("exit_code", 2) : 2;
}

bool boot_done(const json& status) {
  return status.contains("boot") && status["boot"].value("state", "") == "done";
}

void record_op(const core::Root& root, const char* record_name, const json& answer) {
  json j = answer;
  j["at"] = std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  core::WriteOptions wo;
  wo.create_parents = true;
  wo.durable = false;
  wo.mode = 0644;
  if (auto ok = core::write_file_atomic(root, runs(record_name), j.dump(2) + "\n", wo); !ok)
    core::log_debug("cannot write ", runs(record_name), ": ", ok.error().message());
}

}  // namespace guestkit::plugins::status
