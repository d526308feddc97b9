// guestkit-seed [--root DIR] [--device DEV | --dir DIR] show|apply

#include <csignal>
#include <iostream>
#include <variant>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "plugins/seed/apply.hpp"
#include "plugins/seed/hooks.hpp"
#include "plugins/seed/show.hpp"

namespace gk = guestkit;
namespace sd = guestkit::plugins::seed;

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const gk::core::ToolSpec spec{
      "guestkit-seed",
      "[OPTION]... [--device DEV | --dir DIR] show|apply",
      "Provision this VM from the platform's first-boot seed.",
      "A seed is what a platform gives a new VM without a network: the old\n"
      "platform's tar in the swap disk (guestkit/ or gandi/ layout), a NoCloud\n"
      "'cidata' disk (meta-data, user-data, vendor-data) or an OpenStack 'config-2'\n"
      "drive. It becomes the same provision order guestkit-agent takes (see\n"
      "PROTOCOL.md), validated whole before anything changes, and is applied once\n"
      "per instance id; it may also bring the agent key (/etc/guestkit/agent.key).\n"
      "\n"
      "Commands:\n"
      "  show   print the order the seed makes, secrets redacted, what is applied\n"
      "         and every key that is not, with why; changes nothing\n"
      "  apply  apply it (what the bootstrap plugin 00-apply-seed does at boot);\n"
      "         a summary without secrets goes to /run/guestkit/seed.json\n"
      "\n"
      "Without --device or --dir the seed is seed.device in guestkit.yml, else the\n"
      "one found on this machine; under --root DIR only --device, --dir or\n"
      "seed.device are used.\n"
      "\n"
      "apply exits 0 when the seed was applied, was already applied for this\n"
      "instance, or there is none; 2 when the seed is invalid (nothing changed) or\n"
      "a provision step failed.\n"
      "\n"
      "Examples:\n"
      "  guestkit-seed show\n"
      "  guestkit-seed --dir /var/lib/cloud/seed/nocloud show\n"
      "  guestkit-seed --root /mnt/image --dir ./seed --dry-run apply",
      {{"device", 0, true, "DEV", "read the seed from this device"},
       {"dir", 0, true, "DIR", "read the seed from this directory (a seed's layout)"}},
      1,
      1};
  auto parsed = gk::core::parse_cli(spec, argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  auto& args = std::get<gk::core::CliArgs>(parsed);
  const std::string command = args.args[0];
  if (command != "show" && command != "apply") {
    std::cerr << spec.name << ": unknown command '" << command << "' (show, apply)\n";
    return gk::core::kExitUsage;
  }
  if (args.has("device") && args.has("dir")) {
    std::cerr << spec.name << ": give --device or --dir, not both\n";
    return gk::core::kExitUsage;
  }
  auto ctx = gk::core::make_context(spec, args);
  if (!ctx) return gk::core::kExitFailed;

  sd::SeedChoice choice;
  choice.load_drivers = command == "apply";
  if (args.has("device")) choice.device = args.options.at("device");
  if (args.has("dir")) choice.dir = args.options.at("dir");
  auto files = sd::find_seed(**ctx, choice);
  if (!files) {
    gk::core::report_fatal(spec, files.error().message());
    return gk::core::kExitFailed;
  }
  const auto smbios =
      (*ctx)->root.is_host() ? sd::read_smbios_seed((*ctx)->root) : sd::SmbiosSeed{};
  const sd::SeedFiles* seed = *files ? &**files : nullptr;

  if (command == "show") {
    auto n = sd::normalise(seed, smbios, {sd::default_user(**ctx)});
    if (!n) {
      gk::core::report_fatal(spec, n.error().message());
      return gk::core::kExitFailed;
    }
    std::cout << sd::show_text(
        *n, n->instance_id.empty() ? sd::fallback_instance_id((*ctx)->root) : n->instance_id);
    return gk::core::kExitOk;
  }
  auto result = sd::apply_seed(**ctx, seed, smbios);
  const auto& s = result.summary;
  std::cout << "seed: " << s.value("state", std::string("?"));
  if (s.contains("instance_id"))
    std::cout << " (instance " << s["instance_id"].get<std::string>() << ")";
  std::cout << "\n";
  for (const auto& item : s.value("not_applied", nlohmann::json::array()))
    std::cout << "  not applied: " << gk::core::sanitize_for_log(item.value("key", std::string()))
              << ": " << gk::core::sanitize_for_log(item.value("why", std::string())) << "\n";
  if (result.exit_code != 0)
    gk::core::report_fatal(spec, s.value("error", std::string("a provision step failed")));
  return result.exit_code;
}
