#include "agent/ctl.hpp"

#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "agent/client.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::agent {
namespace {

using nlohmann::json;

// YAML (a superset of JSON) to JSON: maps, lists, true/false, and strings. Quoted
// scalars stay strings, so `"true"` is text.
json yaml_to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    json out = json::object();
    for (const auto& pair : node) out[pair.first.as<std::string>()] = yaml_to_json(pair.second);
    return out;
  }
  if (node.IsSequence()) {
    json out = json::array();
    for (const auto& item : node) out.push_back(yaml_to_json(item));
    return out;
  }
  if (node.IsNull()) return nullptr;
  const std::string text = node.Scalar();
  if (node.Tag() != "!" && (text == "true" || text == "false")) return text == "true";
  return text;
}

core::Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return core::errno_error(path);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

int fail(const std::string& message) {
  std::cerr << "guestkit-ctl: " << message << "\n";
  return core::kExitFailed;
}

std::string ms(double v) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << v << " ms";
  return os.str();
}

// Prints an answer; returns the exit code it means.
int report(const json& answer, bool as_json) {
  if (as_json) std::cout << answer.dump(2) << "\n";
  if (!answer.value("ok", false)) {
    const auto& e = answer.contains("error") ? answer["error"] : json::object();
    if (!as_json)
      std::cerr << "guestkit-ctl: refused: " << e.value("code", "?") << ": "
                << e.value("message", "") << "\n";
    return core::kExitFailed;
  }
  const json& r = answer["result"];
  if (r.contains("success")) {  // provision
    bool all = r.value("success", false);
    if (!as_json) {
      for (const auto& p : r["plugins"]) {
        std::cout << "  " << std::left << std::setw(24) << p.value("name", "") << std::setw(10)
                  << p.value("status", "") << std::setw(10) << ms(p.value("duration_ms", 0.0));
        if (!p.value("message", "").empty()) std::cout << "  " << p.value("message", "");
        std::cout << "\n";
      }
      for (const auto& what : r.value("retired", json::array()))
        std::cout << "retired: " << what.get<std::string>() << "\n";
      std::cout << (all ? "provisioned " : "NOT fully provisioned ") << r.value("instance_id", "")
                << " in " << ms(r.value("duration_ms", 0.0)) << "\n";
    }
    return all ? core::kExitOk : core::kExitPartial;
  }
  if (r.contains("state") && r["state"].is_string() && r["state"] != "ready") {
    // prepare-detach busy, prepare-unplug refused: the platform must not unplug.
    if (!as_json) {
      std::cout << r["state"].get<std::string>();
      if (r.contains("disk")) std::cout << " " << r.value("disk", "");
      if (r.contains("part"))
        std::cout << ": " << r.value("part", "") << " " << r.value("errno", "") << " ("
                  << r.value("reason", "") << ")";
      std::cout << "\n";
      for (const auto& h : r.value("holders", json::array())) {
        std::cout << "  " << h.value("type", "?");
        for (const auto& [key, value] : h.items())
          if (key != "type")
            std::cout << " " << key << "="
                      << (value.is_string() ? value.get<std::string>() : value.dump());
        std::cout << "\n";
      }
      for (const char* key : {"services_restarted", "rolled_back"})
        if (r.contains(key)) std::cout << key << ": " << r[key].dump() << "\n";
    }
    return core::kExitPartial;
  }
  if (!as_json) {
    if (r.contains("keys")) {
      for (const auto& k : r["keys"]) std::cout << k.get<std::string>() << "\n";
    } else {
      for (const auto& [key, value] : r.items())
        if (key != "plugins")  // a single op's run records: in --json
          std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                    << "\n";
    }
  }
  return core::kExitOk;
}

// A password from stdin (one line), never from argv.
core::Secret read_password() {
  std::string line;
  const bool tty = ::isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::cerr << "password: " << std::flush;
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::getline(std::cin, line);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  return core::Secret(std::move(line));
}

core::Result<json> key_lines(const std::string& path) {
  auto text = read_text(path);
  if (!text) return std::move(text).error();
  json out = json::array();
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

}  // namespace

const core::ToolSpec& ctl_tool() {
  static const core::ToolSpec spec{
      "guestkit-ctl",
      "--connect SPEC [--key FILE] COMMAND [ARG]...",
      "Send sealed orders to a VM's guestkit-agent and print the answers.",
      "SPEC: tcp:HOST:PORT (port 7391 by default on the VM), unix:PATH, vsock:CID:PORT,\n"
      "or serial:PATH, the host's unix socket of the VM's virtio-serial port\n"
      "org.guestkit.agent.0 (QEMU: -chardev socket,path=PATH,server=on): each\n"
      "command starts a session with a resync, so a session another client left\n"
      "half done is no obstacle, and the VM needs no network.\n"
      "Commands:\n"
      "  info                        the agent's greeting and version\n"
      "  provision ORDER.yml         the first-boot order (YAML or JSON); its instance_id,\n"
      "                              else --instance-id, else the greeting's\n"
      "  set-password USER           password read from standard input\n"
      "  ssh-keys USER [--add FILE] [--remove FILE] [--list]\n"
      "  set-hostname NAME\n"
      "  status                      what guestkit manages on the VM\n"
      "  prepare-detach DISK [--force]\n"
      "                              get a disk ready to be unplugged: hook, services\n"
      "                              stopped, unmounted; or 'busy' and what holds it.\n"
      "                              DISK: vdb, /dev/vdb, serial:SERIAL, pci:0000:00:07.0,\n"
      "                              label:LABEL or the mountpoint (/srv/data)\n"
      "  prepare-unplug memory SIZE | memory ADDRESS+SIZE | cpu N[,N]...\n"
      "                              offline memory (that much movable memory, or the\n"
      "                              DIMM at ADDRESS, e.g. 0x140000000+512M) or vCPUs;\n"
      "                              or 'refused' with the kernel's reason, nothing left\n"
      "                              offline\n"
      "Exit status: 0 every step succeeded (prepare-*: ready), 1 a step failed (busy,\n"
      "refused), 2 refused or no answer.",
      {
          {"connect", 'C', true, "SPEC", "where the agent listens"},
          {"key", 'k', true, "FILE", "the agent key (hex); without it requests go in clear"},
          {"json", 'j', false, "", "print the answers as JSON"},
          {"timeout", 't', true, "DURATION", "longest wait for each answer (default 120s)"},
          {"force", 'f', false, "",
           "provision again an instance already provisioned; prepare-detach: go on past\n"
           "services that will not stop (kills only their own processes)"},
          {"instance-id", 'i', true, "ID",
           "the VM meant: nothing is sent when its greeting names another instance"},
          {"add", 0, true, "FILE", "ssh-keys: add the keys in FILE"},
          {"remove", 0, true, "FILE", "ssh-keys: remove the keys in FILE"},
          {"list", 0, false, "", "ssh-keys: list the keys"},
      },
      1,
      3,
  };
  return spec;
}

int run_ctl(const core::CliArgs& args) {
  core::log_setup({"guestkit-ctl",
                   core::LogSink::stderr_stream,
                   args.debug ? core::Level::debug : core::Level::warning,
                   {}});
  if (!args.has("connect")) return fail("--connect SPEC is required");
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  if (args.has("timeout")) {
    auto t = core::parse_duration(args.options.at("timeout"));
    if (!t || t->count() <= 0) return fail("--timeout: want a duration like 30s");
    timeout = *t;
  }
  std::optional<SecretBytes> key;
  if (args.has("key")) {
    auto text = read_text(args.options.at("key"));
    if (!text) return fail(text.error().message());
    auto parsed = parse_key_text(*text);
    ::explicit_bzero(text->data(), text->size());
    if (!parsed) return fail(args.options.at("key") + ": " + parsed.error().context);
    key.emplace(std::move(*parsed));
  }
  const std::string& command = args.args[0];
  const std::string arg = args.args.size() > 1 ? args.args[1] : "";
  const bool as_json = args.has("json");

  json op_args = json::object();
  std::string op = command;
  if (command == "provision") {
    if (arg.empty()) return fail("provision needs ORDER.yml");
    auto text = read_text(arg);
    if (!text) return fail(text.error().message());
    try {
      op_args = yaml_to_json(YAML::Load(*text));
    } catch (const YAML::Exception& e) {
      return fail(arg + ": " + e.what());
    }
    ::explicit_bzero(text->data(), text->size());
    if (!op_args.is_object()) return fail(arg + ": the order must be a map");
    if (args.has("force")) op_args["force"] = true;
    if (args.has("instance-id") && op_args.contains("instance_id") &&
        op_args["instance_id"] != args.options.at("instance-id"))
      return fail(arg + ": the order is for instance " + op_args["instance_id"].dump() +
                  ", --instance-id says '" + args.options.at("instance-id") + "'");
  } else if (command == "set-password") {
    if (arg.empty()) return fail("set-password needs USER");
    op_args = {{"user", arg}, {"password", read_password().reveal()}};
  } else if (command == "ssh-keys") {
    if (arg.empty()) return fail("ssh-keys needs USER");
    op_args = {{"user", arg}, {"list", args.has("list")}};
    for (const char* field : {"add", "remove"}) {
      if (!args.has(field)) continue;
      auto lines = key_lines(args.options.at(field));
      if (!lines) return fail(lines.error().message());
      op_args[field] = *lines;
    }
  } else if (command == "set-hostname") {
    if (arg.empty()) return fail("set-hostname needs NAME");
    op_args = {{"hostname", arg}};
  } else if (command == "prepare-detach") {
    if (arg.empty()) return fail("prepare-detach needs DISK");
    static const std::pair<const char*, const char*> kPrefixes[] = {
        {"serial:", "serial"}, {"pci:", "pci"}, {"label:", "label"}};
    std::string field = "disk", value = arg;
    for (const auto& [prefix, name] : kPrefixes)
      if (arg.starts_with(prefix)) {
        field = name;
        value = arg.substr(std::string_view(prefix).size());
      }
    if (field == "disk" && arg.starts_with("/") && !arg.starts_with(core::paths::kDevPrefix))
      field = "mountpoint";
    op_args = {{field, value}};
    if (args.has("force")) op_args["force"] = true;
  } else if (command == "prepare-unplug") {
    const std::string what = args.args.size() > 2 ? args.args[2] : "";
    if (arg == "cpu" && !what.empty()) {
      json cpus = json::array();
      std::size_t start = 0;
      while (start <= what.size()) {
        auto end = what.find(',', start);
        if (end == std::string::npos) end = what.size();
        const std::string n = what.substr(start, end - start);
        if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 7)
          return fail("prepare-unplug cpu: '" + n + "' is not a CPU number");
        cpus.push_back(std::stoul(n));
        start = end + 1;
      }
      op_args = {{"cpu", cpus.size() == 1 ? cpus[0] : cpus}};
    } else if (arg == "memory" && !what.empty()) {
      const auto plus = what.find('+');
      if (plus == std::string::npos)
        op_args = {{"memory", what}};
      else
        op_args = {
            {"memory", {{"address", what.substr(0, plus)}, {"size", what.substr(plus + 1)}}}};
    } else {
      return fail("prepare-unplug needs 'memory SIZE', 'memory ADDRESS+SIZE' or 'cpu N'");
    }
  } else if (command != "info" && command != "status") {
    std::cerr << "guestkit-ctl: unknown command '" << command << "'\n";
    return core::kExitUsage;
  }

  auto client = Client::open(args.options.at("connect"), key ? &*key : nullptr, timeout);
  if (!client) return fail(client.error().message());
  // Before any order leaves: the wrong VM (a reused address, a typo) hears nothing.
  if (args.has("instance-id") && client->instance_id() != args.options.at("instance-id"))
    return fail(args.options.at("connect") + " is instance '" + client->instance_id() + "', not '" +
                args.options.at("instance-id") + "': nothing sent");
  if (command == "provision" && !op_args.contains("instance_id"))
    op_args["instance_id"] = client->instance_id();
  if (command == "info" && !key) {
    if (as_json)
      std::cout << client->greeting().dump(2) << "\n";
    else
      report({{"ok", true}, {"result", client->greeting()}}, false);
    return core::kExitOk;
  }
  auto answer = client->call(op, op_args);
  wipe_json(op_args);
  if (!answer) return fail(answer.error().message());
  return report(*answer, as_json);
}

}  // namespace guestkit::agent
