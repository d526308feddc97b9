// guestkit-boot STAGE: run the plugins of one boot stage, in order. The thin main:
// argv, the Context, then plugins/boot/stage.hpp does the work.

#include <csignal>
#include <iostream>
#include <variant>

#include "core/cli.hpp"
#include "plugins/boot/stage.hpp"
#include "plugins/plugin.hpp"

namespace gk = guestkit;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const gk::core::ToolSpec spec{
      "guestkit-boot",
      "[OPTION]... STAGE|report",
      "Run the guestkit plugins of a boot stage, in order.",
      "Stages, in boot order:\n"
      "  bootstrap  early, before the network: swap, sysctl, root resize\n"
      "  mount      coldplug of the disks, CPUs and memory present at boot\n"
      "  config     console, system files, cron, timezone, ssh, motd\n"
      "  postboot   user script and hooks\n"
      "\n"
      "'guestkit-boot report' prints the last run of every stage, slowest plugin\n"
      "first, from /run/guestkit/boot-STAGE.json.\n"
      "\n"
      "Plugins are the built-in ones plus executables in\n"
      "/usr/lib/guestkit/plugins.d/STAGE/ and /etc/guestkit/plugins.d/STAGE/, run in\n"
      "bytewise name order; /etc wins on equal names, a symlink to /dev/null masks a\n"
      "name. Switch one off with 'plugins: {enabled: {NAME: false}}' in guestkit.yml.\n"
      "The config stage also runs the customer plugins gandi-hosting-vm2 ran from\n"
      "/etc/gandi/plugins.d/ (listed as legacy; the old package's own are not run).\n"
      "\n"
      "Examples:\n"
      "  guestkit-boot config\n"
      "  guestkit-boot --list config\n"
      "  guestkit-boot --only 11-config-ssh config\n"
      "  guestkit-boot report\n"
      "  guestkit-boot --root /mnt/image --dry-run config",
      {{"list", 'l', false, "",
        "list the stage's plugins in run order (all stages\n"
        "when none is given) and exit"},
       {"only", 0, true, "NAME", "run only these plugins (comma-separated names)"},
       {"skip", 0, true, "NAME", "do not run these plugins (comma-separated names)"}},
      0,
      1};
  auto parsed = gk::core::parse_cli(spec, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<gk::core::CliArgs>(parsed);

  const bool list = args.has("list");
  if (args.args.empty() && !list) {
    std::cerr << spec.name << ": missing STAGE\nTry '" << spec.name
              << " --help' for more information.\n";
    return gk::core::kExitUsage;
  }
  const bool report = !args.args.empty() && args.args[0] == "report";
  if (!args.args.empty() && !report && !gk::plugins::is_boot_stage(args.args[0])) {
    std::cerr << spec.name << ": unknown stage '" << args.args[0]
              << "' (bootstrap, mount, config, postboot, report)\n";
    return gk::core::kExitUsage;
  }
  if (report && (list || args.has("only") || args.has("skip"))) {
    std::cerr << spec.name << ": report takes no --list, --only or --skip\n";
    return gk::core::kExitUsage;
  }

  auto ctx = gk::core::make_context(spec, args);
  if (!ctx) return gk::core::kExitFailed;

  gk::plugins::boot::StageRequest request;
  request.report = report;
  request.list = list;
  if (!args.args.empty() && !report) request.stage = args.args[0];
  if (args.has("only")) request.only = gk::plugins::boot::split_names(args.options.at("only"));
  if (args.has("skip")) request.skip = gk::plugins::boot::split_names(args.options.at("skip"));
  return gk::plugins::boot::run_stage(**ctx, request, spec, std::cout, std::cerr);
}
