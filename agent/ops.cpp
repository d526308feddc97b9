#include "agent/ops.hpp"

#include <chrono>
#include <map>

#include "agent/ops_lifecycle.hpp"
#include "agent/protocol.hpp"
#include "agent/state.hpp"
#include "core/build_info.hpp"
#include "core/cli.hpp"
#include "core/files.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/provision/order.hpp"
#include "plugins/runner.hpp"

namespace guestkit::agent {
namespace {

using nlohmann::json;
namespace pv = plugins::provision;

constexpr std::chrono::seconds kLockTimeout{60};

// Every op that changes the system holds the lock "agent": two connections (inetd
// spawns one agent each) never interleave their edits of /etc/passwd or a key file.
core::Result<core::Lock> take_lock(const AgentState& s) {
  return core::Lock::acquire(s.ctx.root, "agent", kLockTimeout);
}

Reply invalid(const core::Error& e) {
  return Reply::error(e.code == core::Errc::bad_input ? "invalid" : "failed", e.message());
}

Reply op_info(AgentState& s) {
  Reply r;
  r.result = greeting(s, {});
  r.result.erase("challenge");
  r.result["guestkit_version"] = kVersion;
  return r;
}

json plugin_records(const plugins::RunSummary& summary) {
  json out = json::array();
  for (const auto& rec : summary.records)
    out.push_back(
        {{"name", rec.name},
         {"source", plugins::source_name(rec.source)},
         {"status", plugins::status_name(rec.status)},
         {"message", rec.message},
         {"duration_ms", std::chrono::duration<double, std::milli>(rec.duration).count()}});
  return out;
}

Reply op_provision(AgentState& s, const json& args) {
  auto order = pv::parse_order(args);
  if (!order) return invalid(order.error());
  if (s.instance_id.empty() || order->instance_id != s.instance_id)
    return Reply::error("wrong_instance", "the order is for another instance");
  auto lock = take_lock(s);
  if (!lock) return Reply::error("busy", lock.error().message());
  if (is_provisioned(s.ctx.root, s.instance_id) && !order->force)
    return Reply::error("already_provisioned", "instance " + s.instance_id +
                                                   " is already provisioned (send force to redo)");
  if (auto ok = pv::prepare_order(s.ctx.root, *order); !ok) return invalid(ok.error());

  // Only the provision table, by designated initializer so that the default (every
  // built-in) is not even linked: the agent then loads no libmount/libblkid (and the
  // libselinux they pull in), which every spawn would pay for.
  plugins::RunOptions options{.builtins = plugins::provision_plugins(), .order = &*order};
  options.env["GUESTKIT_INSTANCE_ID"] = order->instance_id;
  if (order->hostname) options.env["GUESTKIT_HOSTNAME"] = *order->hostname;
  if (order->admin) options.env["GUESTKIT_ADMIN_USER"] = order->admin->name;
  const auto summary = plugins::run_plugins(s.ctx, "provision", options);

  Reply r;
  const bool success = summary.exit_code() == core::kExitOk;
  r.result = {{"instance_id", s.instance_id},
              {"success", success},
              {"plugins", plugin_records(summary)},
              {"duration_ms", std::chrono::duration<double, std::milli>(summary.duration).count()}};
  if (!success) return r;
  json record = {{"instance_id", s.instance_id},
                 {"provisioned_at", std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()},
                 {"plugins", r.result["plugins"]}};
  if (auto ok = mark_provisioned(s.ctx.root, s.instance_id, record.dump(2) + "\n"); !ok) {
    core::log_error("provision: cannot write the marker: ", ok.error().message());
    r.result["success"] = false;
    r.result["marker_error"] = ok.error().message();
    return r;
  }
  json retired = json::array();
  if (s.ctx.config.agent.retire_after_provision) {
    auto done = set_delivery_enabled(s.ctx.root, false);
    if (!done) {
      core::log_warning("provision: cannot retire the agent: ", done.error().message(),
                        ", ignoring");
    } else {
      for (const auto& what : *done) {
        core::log_notice("provision: ", what);
        retired.push_back(what);
      }
    }
  }
  r.result["retired"] = retired;
  return r;
}

// The single ops run their trigger's plugins like `provision` does (the built-in step
// that does that part of an order, then plugins.d/TRIGGER/, with a run record), so
// plugins.enabled and masks bind them too: when `step` is switched off the op is
// refused before anything runs. `result` gets "changed" (what `step` did) and
// "plugins".
Reply run_single_op(AgentState& s, std::string_view trigger, const std::string& step,
                    const pv::Order& order, std::map<std::string, std::string> env, json result) {
  auto plan = plugins::plan_plugins(s.ctx, trigger, plugins::provision_plugins());
  if (!plan) return Reply::error("failed", plan.error().message());
  for (const auto& e : *plan)
    if (e.name == step && !e.enabled)
      return Reply::error("disabled", std::string(trigger) + " refused: " + step + " is " +
                                          (e.why_disabled.empty() ? "disabled" : e.why_disabled));
  auto lock = take_lock(s);
  if (!lock) return Reply::error("busy", lock.error().message());
  plugins::RunOptions options{.builtins = plugins::provision_plugins(), .order = &order};
  options.env = std::move(env);
  options.env["GUESTKIT_INSTANCE_ID"] = s.instance_id;
  const auto summary = plugins::run_plugins(s.ctx, trigger, options);
  bool changed = false;
  for (const auto& rec : summary.records) {
    if (rec.status == plugins::RunStatus::failed)
      return Reply::error("failed", rec.name + ": " + rec.message);
    changed = changed || (rec.name == step && rec.status == plugins::RunStatus::changed);
  }
  Reply r;
  r.result = std::move(result);
  r.result["changed"] = changed;
  r.result["plugins"] = plugin_records(summary);
  return r;
}

Reply op_set_password(AgentState& s, const json& args) {
  if (!args.is_object() || !args.contains("user") || !args["user"].is_string())
    return Reply::error("invalid", "user: missing or not a string");
  for (const auto& [key, value] : args.items())
    if (key != "user" && key != "password" && key != "password_hash")
      return Reply::error("invalid", key.substr(0, 64) + ": unknown field");
  const std::string user = args["user"].get<std::string>();
  auto account = pv::target_account(s.ctx.root, user);
  if (!account) return invalid(account.error());
  auto hash = pv::parse_password_fields(args, "set-password");
  if (!hash) return invalid(hash.error());
  // root's password is 20-set-root-password's part of an order, another user's
  // 30-create-admin-user's.
  pv::Order order;
  order.instance_id = s.instance_id;
  if (user == "root") {
    order.root.emplace();
    order.root->password_hash = std::move(*hash);
  } else {
    order.admin.emplace();
    order.admin->name = user;
    order.admin->password_hash = std::move(*hash);
  }
  return run_single_op(s, "set-password",
                       user == "root" ? "20-set-root-password" : "30-create-admin-user", order,
                       {{"GUESTKIT_USER", user}}, {{"user", user}});
}

Reply op_ssh_keys(AgentState& s, const json& args) {
  if (!args.is_object() || !args.contains("user") || !args["user"].is_string())
    return Reply::error("invalid", "user: missing or not a string");
  for (const auto& [key, value] : args.items())
    if (key != "user" && key != "add" && key != "remove" && key != "list")
      return Reply::error("invalid", key.substr(0, 64) + ": unknown field");
  const std::string user = args["user"].get<std::string>();
  auto account = pv::target_account(s.ctx.root, user);
  if (!account) return invalid(account.error());
  std::vector<pv::SshKey> add, remove;
  for (auto [field, list] : {std::pair{"add", &add}, std::pair{"remove", &remove}}) {
    if (!args.contains(field)) continue;
    auto keys = pv::parse_key_list(args[field], field);
    if (!keys) return invalid(keys.error());
    *list = std::move(keys).value();
  }
  bool list = false;
  if (args.contains("list")) {
    if (!args["list"].is_boolean()) return Reply::error("invalid", "list: must be true or false");
    list = args["list"].get<bool>();
  }
  const pv::KeyOwner owner{account->home, account->uid, account->gid};
  if (auto ok = pv::check_ssh_paths(s.ctx.root, owner); !ok)
    return Reply::error("invalid", ok.error().message());
  Reply r;
  r.result = {{"user", user}, {"changed", false}};
  if (!add.empty() || !remove.empty()) {
    // 40-install-ssh-keys's part of an order, with the keys to take out as well.
    pv::Order order;
    order.instance_id = s.instance_id;
    pv::Credentials& keys = user == "root" ? order.root.emplace() : order.admin.emplace();
    if (user != "root") order.admin->name = user;
    keys.ssh_keys = std::move(add);
    keys.remove_ssh_keys = std::move(remove);
    r = run_single_op(s, "ssh-keys", "40-install-ssh-keys", order, {{"GUESTKIT_USER", user}},
                      std::move(r.result));
    if (!r.ok) return r;
  }
  if (list) {  // reading changes nothing: answered even with the step switched off
    auto text = pv::read_authorized_keys(s.ctx.root, owner);
    if (!text) return invalid(text.error());
    json keys = json::array();
    for (const auto& key : pv::list_authorized_keys(*text)) keys.push_back(key.line());
    r.result["keys"] = keys;
  }
  return r;
}

Reply op_set_hostname(AgentState& s, const json& args) {
  if (!args.is_object() || !args.contains("hostname") || args.size() != 1)
    return Reply::error("invalid", "args must be {\"hostname\": NAME}");
  // The hostname part of an order: same validation, same plugin.
  auto order = pv::parse_order({{"instance_id", s.instance_id.empty() ? "unknown" : s.instance_id},
                                {"hostname", args["hostname"]}});
  if (!order) return invalid(order.error());
  return run_single_op(s, "set-hostname", "10-set-hostname", *order,
                       {{"GUESTKIT_HOSTNAME", *order->hostname}}, {{"hostname", *order->hostname}});
}

}  // namespace

json Reply::to_json(const json& id) const {
  if (ok) return {{"id", id}, {"ok", true}, {"result", result}};
  return {{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}};
}

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> names{"info",           "provision",     "set-password",
                                              "ssh-keys",       "set-hostname",  "status",
                                              "prepare-detach", "prepare-unplug"};
  return names;
}

json greeting(const AgentState& s, const Bytes& challenge) {
  return {{"guestkit_agent", kProtocolVersion},
          {"ops", op_names()},
          {"instance_id", s.instance_id},
          {"provisioned", is_provisioned(s.ctx.root, s.instance_id)},
          {"auth", s.auth_none             ? "none"
                   : s.key_problem.empty() ? "key"
                                           : "unavailable"},
          {"challenge", core::hex_encode(challenge)}};
}

Reply run_op(AgentState& s, const std::string& op, const json& args) {
  if (op == "info") return op_info(s);
  if (op == "provision") return op_provision(s, args);
  if (op == "set-password") return op_set_password(s, args);
  if (op == "ssh-keys") return op_ssh_keys(s, args);
  if (op == "set-hostname") return op_set_hostname(s, args);
  if (op == "status") return op_status(s, args);
  if (op == "prepare-detach") return op_prepare_detach(s, args);
  if (op == "prepare-unplug") return op_prepare_unplug(s, args);
  return Reply::error("unknown_op",
                      "unknown op '" + core::sanitize_for_log(op.substr(0, 64)) + "'");
}

}  // namespace guestkit::agent
