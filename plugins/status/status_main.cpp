// guestkit status: what guestkit manages on this VM (the agent's `status` op, read
// locally), and with --wait the "is the boot done?" answer.

#include <csignal>
#include <iostream>
#include <thread>

#include "core/cli.hpp"
#include "core/config.hpp"
#include "core/instance_id.hpp"
#include "plugins/plugin.hpp"
#include "plugins/status/status.hpp"

namespace gk = guestkit;
using nlohmann::json;

namespace {

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

void print_text(const json& s) {
  std::cout << "instance: " << text_of(s.value("instance_id", "")) << "\n";
  std::cout << "provisioned: " << (s.value("provisioned", false) ? "yes" : "no");
  if (s.contains("provisioned_since"))
    std::cout << " (since " << s["provisioned_since"].get<std::int64_t>() << ")";
  std::cout << "\n";
  const auto& b = s["boot"];
  std::cout << "boot: " << b.value("state", "") << " (exit " << b.value("exit_code", 2) << ")\n";
  for (auto name : gk::plugins::kBootStages) {  // in run order, not the JSON's
    const std::string stage(name);
    if (!b["stages"].contains(stage)) continue;
    const auto& st = b["stages"][stage];
    std::cout << "  " << stage << ": " << st.value("state", "");
    if (st.contains("finished")) std::cout << " at " << st["finished"].get<std::int64_t>();
    if (st.contains("failed") && !st["failed"].empty())
      std::cout << ", failed: " << st["failed"].dump();
    std::cout << "\n";
  }
  if (s.contains("seed"))
    std::cout << "seed: " << s["seed"].value("state", "") << " (" << s["seed"].value("source", "")
              << ")\n";
  for (const auto& d : s["disks"])
    std::cout << "disk: " << d.value("name", "") << " at " << d.value("mountpoint", "") << " ("
              << d.value("fstype", "") << ", since " << d.value("since", std::int64_t{0}) << ")\n";
  for (const auto& i : s["interfaces"])
    std::cout << "interface: " << i.value("name", "") << " (" << i.value("backend", "") << ", dhcp "
              << i.value("dhcp", "") << ")\n";
  if (s.contains("cpus"))
    std::cout << "cpus: online " << s["cpus"].value("online", "") << ", offline "
              << s["cpus"].value("offline", "") << "\n";
  if (s.contains("memory"))
    std::cout << "memory: online " << s["memory"].value("online", "") << " ("
              << s["memory"].value("online_bytes", std::uint64_t{0}) << " bytes), offline "
              << s["memory"].value("offline", "") << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const gk::core::ToolSpec spec{
      "guestkit",
      "[OPTION]... status",
      "Say what guestkit manages on this VM, and whether the boot stages are done.",
      "status: the boot stages' last run, the seed applied, provisioning, the data disks,\n"
      "interfaces, vCPUs and memory, each with since when (seconds since the epoch);\n"
      "the same answer as the agent's `status` op.\n"
      "\n"
      "Exit status: 0 every boot stage ran and no plugin failed; 1 partial (a stage has\n"
      "not run yet, --wait timed out, or a non-critical plugin failed); 2 a stage failed.\n"
      "\n"
      "Examples:\n"
      "  guestkit status\n"
      "  guestkit status --wait --timeout 5m --json",
      {{"json", 'j', false, "", "print the answer as JSON"},
       {"wait", 'w', false, "", "return only when every boot stage has run"},
       {"timeout", 't', true, "DURATION", "with --wait: give up after DURATION (default: never)"}},
      1,
      1};
  auto parsed = gk::core::parse_cli(spec, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<gk::core::CliArgs>(parsed);
  if (args.args[0] != "status") {
    std::cerr << spec.name << ": unknown command '" << args.args[0] << "' (status)\n";
    return gk::core::kExitUsage;
  }
  std::optional<std::chrono::milliseconds> timeout;
  if (args.has("timeout")) {
    timeout = gk::core::parse_duration(args.options.at("timeout"));
    if (!timeout || timeout->count() <= 0) {
      std::cerr << spec.name << ": --timeout: want a duration like 30s\n";
      return gk::core::kExitUsage;
    }
  }
  auto ctx = gk::core::make_context(spec, args);
  if (!ctx) return gk::core::kExitFailed;
  const auto id = gk::core::find_instance_id((*ctx)->root);
  const std::string instance = id ? id->value : "";
  const auto deadline =
      std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  json s = gk::plugins::status::collect(**ctx, instance);
  // The stages write their records when they finish: poll for them (they are tmpfs
  // files; a few reads a second cost nothing).
  while (args.has("wait") && !gk::plugins::status::boot_done(s) &&
         (!timeout || std::chrono::steady_clock::now() < deadline)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    s = gk::plugins::status::collect(**ctx, instance);
  }
  if (args.has("json"))
    std::cout << s.dump(2) << "\n";
  else
    print_text(s);
  return gk::plugins::status::boot_exit_code(s);
}
