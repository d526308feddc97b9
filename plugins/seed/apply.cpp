#include "plugins/seed/apply.hpp"

#include <unistd.h>

#include <chrono>

#include "core/cli.hpp"
#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/provision/order.hpp"
#include "plugins/provision/validate.hpp"
#include "plugins/runner.hpp"
#include "plugins/seed/hooks.hpp"
#include "plugins/seed/modules.hpp"

namespace guestkit::plugins::seed {
namespace {

using nlohmann::json;

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t'))
    line.pop_back();
  return line;
}

json report_lists(const Normalised& n) {
  json not_applied = json::array();
  for (const auto& item : n.not_applied)
    not_applied.push_back({{"key", item.key}, {"why", item.why}});
  return {{"applied", n.applied}, {"not_applied", not_applied}, {"refused", n.refused}};
}

core::WriteOptions root_only(const core::Root& root, mode_t mode) {
  core::WriteOptions wo;
  wo.mode = mode;
  wo.follow = core::Follow::never;
  wo.create_parents = true;
  wo.parent_mode = 0755;
  if (root.is_host() || ::geteuid() == 0) wo.owner = wo.group = 0;
  return wo;
}

void write_summary(const core::Context& ctx, const json& summary) {
  if (ctx.dry_run) return;
  core::WriteOptions wo;
  wo.mode = 0644;  // holds no secret: the report shows it to anyone
  wo.follow = core::Follow::never;
  wo.create_parents = true;
  wo.durable = false;
  if (auto ok =
          core::write_file_atomic(ctx.root, core::paths::kSeedReport, summary.dump(2) + "\n", wo);
      !ok)
    core::log_warning("seed: cannot write ", ctx.root.display(core::paths::kSeedReport), ": ",
                      ok.error().message(), ", ignoring");
}

// The key file, when it was last written for another instance (or never).
core::Result<std::string> install_key(core::Context& ctx, const Normalised& n,
                                      const std::string& instance_id) {
  const core::Root& root = ctx.root;
  auto recorded = core::read_file_if_exists(root, core::paths::kAgentKeyInstanceFile, 4096,
                                            core::Follow::never);
  if (!recorded) return std::move(recorded).error();
  auto present = root.lstat(ctx.config.agent.key_file);
  if (!present) return std::move(present).error();
  if (*recorded && first_line(**recorded) == instance_id && *present)
    return std::string("unchanged (already written for this instance)");
  if (ctx.dry_run) {
    ctx.would("write the agent key to " + root.display(ctx.config.agent.key_file) + " (0600)");
    return std::string("would be written");
  }
  if (auto ok = core::write_file_atomic(root, ctx.config.agent.key_file, n.agent_key->reveal(),
                                        root_only(root, 0600));
      !ok)
    return std::move(ok).error();
  if (auto ok = core::write_file_atomic(root, core::paths::kAgentKeyInstanceFile,
                                        instance_id + "\n", root_only(root, 0644));
      !ok)
    return std::move(ok).error();
  return std::string("written");
}

// The seed's kernel modules tarballs (modules.hpp): the running kernel's is
// installed, the others are reported. False when one could not be installed.
bool apply_modules(const core::Context& ctx, const SeedFiles& files, const Normalised& n, json& s) {
  const std::string release = running_release();
  bool ok = true, done = false;
  for (const auto& name : n.modules) {
    const std::string for_release = modules_release(name);
    if (for_release != release || done) {
      s["not_applied"].push_back(
          {{"key", name},
           {"why", done ? "another tarball for this kernel was installed"
                        : "for kernel " + for_release + ", this one runs " + release}});
      continue;
    }
    done = true;
    const auto m = install_modules(ctx, release, name, files.files.at(name));
    s["modules"] = {{"member", name},       {"release", release}, {"state", m.state},
                    {"message", m.message}, {"files", m.files},   {"refused", m.refused},
                    {"skipped", m.skipped}};
    if (m.state == "installed" || m.state == "would install") {
      s["applied"].push_back(name + ": " + m.message);
    } else {
      s["not_applied"].push_back({{"key", name}, {"why", m.message}});
      // Returned, not reported here: apply_seed's "error" (kernel modules: ...) reaches
      // the operator once, through 00-apply-seed's error or guestkit-seed's stderr.
      core::log_debug("seed: kernel modules ", name, ": ", m.state, ": ", m.message);
      ok = false;
    }
  }
  return ok;
}

}  // namespace

std::string fallback_instance_id(const core::Root& root) {
  const auto id = core::find_instance_id(root);  // the one order every part of guestkit uses
  return id ? id->value : std::string();
}

bool instance_provisioned(const core::Root& root, const std::string& instance_id) {
  if (instance_id.empty()) return false;
  auto st = root.lstat(std::string(core::paths::kProvisionedDir) + "/" + instance_id);
  return st && *st;
}

core::Result<std::optional<SeedFiles>> find_seed(const core::Context& ctx,
                                                 const SeedChoice& choice) {
  if (choice.dir) {
    auto seed = read_seed_dir(*choice.dir);
    if (!seed) return std::move(seed).error();
    return std::optional<SeedFiles>(std::move(*seed));
  }
  const std::string device = choice.device ? *choice.device : ctx.config.seed.device;
  if (!device.empty()) {
    auto seed = read_seed_device(device);
    if (!seed) return std::move(seed).error();
    return std::optional<SeedFiles>(std::move(*seed));
  }
  if (!ctx.root.is_host()) return std::optional<SeedFiles>{};  // discovery is for live systems
  return discover_seed(ctx.root, ctx.config.swap.device,
                       choice.load_drivers && ctx.config.seed.load_drivers
                           ? std::chrono::seconds(30)
                           : std::chrono::seconds(0));
}

std::string default_user(const core::Context& ctx) {
  if (!ctx.config.seed.default_user.empty()) return ctx.config.seed.default_user;
  auto text = core::read_file_if_exists(ctx.root, core::paths::kOsRelease, 1 << 16);
  if (!text || !*text) return {};
  for (const auto& line : core::split_lines(**text)) {
    if (!line.starts_with("ID=")) continue;
    std::string id = line.substr(3);
    if (id.size() >= 2 && (id.front() == '"' || id.front() == '\''))
      id = id.substr(1, id.size() - 2);
    for (const char* known : {"debian", "ubuntu", "fedora", "rocky", "almalinux", "centos"})
      if (id == known) return id;
    if (id == "rhel") return "cloud-user";
    return {};
  }
  return {};
}

ApplyOutcome apply_seed(core::Context& ctx, const SeedFiles* files, const SmbiosSeed& smbios) {
  ApplyOutcome out;
  json& s = out.summary;
  s = {{"source", files ? kind_name(files->kind) : "none"},
       {"origin", files ? files->origin : ""},
       {"finished", std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()}};
  auto fail = [&](const std::string& message) {
    s["state"] = "refused";
    s["error"] = message;
    out.exit_code = core::kExitFailed;
    write_summary(ctx, s);
    return out;
  };

  auto n = normalise(files, smbios, {default_user(ctx)});
  if (!n) return fail(n.error().message());
  s.update(report_lists(*n));
  if (!files && !n->agent_key) {
    s["state"] = "no seed";
    write_summary(ctx, s);
    return out;
  }
  if (!n->instance_id.empty())
    if (auto problem = provision::check_instance_id(n->instance_id); !problem.empty())
      return fail("the seed's instance id: " + problem);
  const std::string id = n->instance_id.empty() ? fallback_instance_id(ctx.root) : n->instance_id;
  s["instance_id"] = id;
  if (id.empty()) return fail("no instance id: the seed names none, and the VM has none either");

  // The agent's lock: a seed and an agent order never interleave.
  auto lock = core::Lock::acquire(ctx.root, "agent", std::chrono::seconds(60));
  if (!lock) return fail(lock.error().message());
  if (instance_provisioned(ctx.root, id)) {
    s["state"] = "already provisioned";
    write_summary(ctx, s);
    return out;
  }

  std::optional<provision::Order> order;
  if (!n->order.empty()) {
    json args = n->order;
    args["instance_id"] = id;
    auto parsed = provision::parse_order(args);
    if (!parsed) return fail(parsed.error().message());
    if (auto ok = provision::prepare_order(ctx.root, *parsed); !ok)
      return fail(ok.error().message());
    order = std::move(*parsed);
  }
  // From here on the system changes.
  if (!n->instance_id.empty()) {
    auto current = core::read_file_if_exists(ctx.root, core::paths::kAgentInstanceIdFile, 4096,
                                             core::Follow::never);
    if (!current || !*current || first_line(**current) != id) {
      if (ctx.dry_run) {
        ctx.would("write " + ctx.root.display(core::paths::kAgentInstanceIdFile) + " (" + id + ")");
      } else if (auto ok = core::write_file_atomic(ctx.root, core::paths::kAgentInstanceIdFile,
                                                   id + "\n", root_only(ctx.root, 0644));
                 !ok) {
        return fail(ok.error().message());
      }
    }
  }
  if (n->agent_key) {
    auto key = install_key(ctx, *n, id);
    if (!key) return fail("agent key: " + key.error().message());
    s["agent_key"] = {{"source", n->agent_key_source}, {"state", *key}};
  }
  // Kernel modules before the order's plugins and the network (a driver a later step
  // needs); a tarball that fails is reported and the rest of the seed still applies.
  const bool modules_ok = !files || apply_modules(ctx, *files, *n, s);
  auto modules_verdict = [&] {
    if (modules_ok) return;
    out.exit_code = core::kExitPartial;
    s["error"] = "kernel modules: " + s["modules"].value("message", std::string());
  };
  if (!order) {
    s["state"] = n->modules.empty()
                     ? "applied (agent key only: the instance stays open to the agent's order)"
                     : "applied (no order: the instance stays open to the agent's order)";
    modules_verdict();
    write_summary(ctx, s);
    return out;
  }

  RunOptions options{.builtins = provision_plugins(), .order = &*order};
  options.env["GUESTKIT_INSTANCE_ID"] = id;
  if (order->hostname) options.env["GUESTKIT_HOSTNAME"] = *order->hostname;
  if (order->admin) options.env["GUESTKIT_ADMIN_USER"] = order->admin->name;
  const auto summary = run_plugins(ctx, "provision", options);
  json plugins = json::array();
  for (const auto& rec : summary.records)
    plugins.push_back(
        {{"name", rec.name}, {"status", status_name(rec.status)}, {"message", rec.message}});
  s["plugins"] = plugins;
  if (summary.exit_code() != core::kExitOk) {
    s["state"] = "failed";
    out.exit_code = core::kExitFailed;
    write_summary(ctx, s);
    return out;
  }
  if (!ctx.dry_run) {
    json marker = {
        {"instance_id", id},     {"provisioned_by", "guestkit-seed"}, {"source", s["source"]},
        {"origin", s["origin"]}, {"provisioned_at", s["finished"]},   {"plugins", plugins}};
    core::WriteOptions wo;
    wo.mode = 0600;
    wo.create_parents = true;
    wo.parent_mode = 0755;
    wo.follow = core::Follow::never;
    const std::string marker_path = std::string(core::paths::kProvisionedDir) + "/" + id;
    if (auto ok = core::write_file_atomic(ctx.root, marker_path, marker.dump(2) + "\n", wo); !ok) {
      s["state"] = "failed";
      s["error"] = "cannot write the marker: " + ok.error().message();
      out.exit_code = core::kExitFailed;
      write_summary(ctx, s);
      return out;
    }
  }
  s["state"] = ctx.dry_run ? "dry run" : "applied";
  modules_verdict();
  write_summary(ctx, s);
  return out;
}

}  // namespace guestkit::plugins::seed
