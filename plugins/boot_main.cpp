// guestkit-boot STAGE: run the plugins of one boot stage, in order.

#include <csignal>
#include <iostream>
#include <variant>

#include "core/cli.hpp"
#include "plugins/runner.hpp"

namespace gk = guestkit;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const gk::core::ToolSpec spec{
      "guestkit-boot",
      "[OPTION]... STAGE",
      "Run the guestkit plugins of a boot stage, in order.",
      "Stages, in boot order:\n"
      "  bootstrap  early, before the network: swap, sysctl, root resize\n"
      "  mount      coldplug of the disks, CPUs and memory present at boot\n"
      "  config     console, system files, cron, timezone, ssh, motd\n"
      "  postboot   user script and hooks\n"
      "\n"
      "Plugins are the built-in ones plus executables in\n"
      "/usr/lib/guestkit/plugins.d/STAGE/ and /etc/guestkit/plugins.d/STAGE/, run in\n"
      "bytewise name order; /etc wins on equal names, a symlink to /dev/null masks a\n"
      "name. Switch one off with 'plugins: {enabled: {NAME: false}}' in guestkit.yml.\n"
      "\n"
      "Examples:\n"
      "  guestkit-boot config\n"
      "  guestkit-boot --list config\n"
      "  guestkit-boot --root /mnt/image --dry-run config",
      {{"list", 'l', false, "", "list the stage's plugins in run order (all stages\n"
                                "when none is given) and exit"}},
      0,
      1};
  auto parsed = gk::core::parse_cli(spec, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<gk::core::CliArgs>(parsed);

  const bool list = args.has("list");
  if (args.args.empty() && !list) {
    std::cerr << spec.name << ": missing STAGE\nTry '" << spec.name << " --help' for more information.\n";
    return gk::core::kExitUsage;
  }
  if (!args.args.empty() && !gk::plugins::is_boot_stage(args.args[0])) {
    std::cerr << spec.name << ": unknown stage '" << args.args[0]
              << "' (bootstrap, mount, config, postboot)\n";
    return gk::core::kExitUsage;
  }

  auto ctx = gk::core::make_context(spec, args);
  if (!ctx) return gk::core::kExitFailed;

  if (list) {
    std::vector<std::string> stages;
    if (args.args.empty())
      stages.assign(std::begin(gk::plugins::kBootStages), std::end(gk::plugins::kBootStages));
    else
      stages.push_back(args.args[0]);
    for (const auto& stage : stages) {
      auto plan = gk::plugins::plan_plugins(**ctx, stage);
      if (!plan) {
        gk::core::report_fatal(spec, plan.error().message());
        return gk::core::kExitFailed;
      }
      gk::plugins::print_plan(std::cout, stage, *plan);
    }
    return gk::core::kExitOk;
  }

  gk::plugins::RunOptions options;
  options.lock = "boot";  // stages never interleave, even when started by hand
  auto summary = gk::plugins::run_plugins(**ctx, args.args[0], options);
  return summary.exit_code();
}
