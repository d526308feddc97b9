#include "plugins/seed/show.hpp"

#include "core/log.hpp"

namespace guestkit::plugins::seed {

std::string show_text(const Normalised& n, const std::string& instance_id) {
  std::string out;
  out += "source: " + std::string(n.kind ? kind_name(*n.kind) : "none (no seed found)");
  if (!n.origin.empty()) out += " (" + core::sanitize_for_log(n.origin) + ")";
  out += "\ninstance id: " + (instance_id.empty() ? std::string("(none)") : instance_id) +
         (n.instance_id.empty() && !instance_id.empty() ? " (the VM's: the seed names none)" : "") +
         "\n";
  out += "agent key: " +
         (n.agent_key ? "from " + n.agent_key_source + " (not shown)" : std::string("none")) + "\n";
  out += "order:";
  if (n.order.empty())
    out += " (nothing)\n";
  else
    out += "\n" + redacted(n.order).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n";
  out += "applied:" + std::string(n.applied.empty() ? " (nothing)\n" : "\n");
  for (const auto& a : n.applied) out += "  " + core::sanitize_for_log(a) + "\n";
  out += "not applied:" + std::string(n.not_applied.empty() ? " (nothing)\n" : "\n");
  for (const auto& a : n.not_applied)
    out += "  " + core::sanitize_for_log(a.key) + ": " + core::sanitize_for_log(a.why) + "\n";
  if (!n.modules.empty()) {
    out += "kernel modules (the running kernel's is installed by apply):\n";
    for (const auto& m : n.modules) out += "  " + core::sanitize_for_log(m) + "\n";
  }
  if (!n.refused.empty()) {
    out += "refused members:\n";
    for (const auto& r : n.refused) out += "  " + core::sanitize_for_log(r) + "\n";
  }
  return out;
}

}  // namespace guestkit::plugins::seed
