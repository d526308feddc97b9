// 00-apply-seed (bootstrap, first): the platform's seed, applied once per instance id
// before the network and sshd (apply.hpp). With no seed (and no SMBIOS key) it is
// skipped; under --root only seed.device is used.

#include "core/log.hpp"
#include "plugins/seed/apply.hpp"
#include "plugins/seed/hooks.hpp"

namespace guestkit::plugins::seed {

core::Result<Outcome> apply_seed(PluginContext& p) {
  auto files = seed::find_seed(p.ctx, {});
  if (!files) return std::move(files).error();
  const auto smbios =
      p.ctx.root.is_host() ? seed::read_smbios_seed(p.ctx.root) : seed::SmbiosSeed{};
  if (!*files && !smbios.agent_key_hex) return Outcome::skipped;
  auto result = seed::apply_seed(p.ctx, *files ? &**files : nullptr, smbios);
  const auto& s = result.summary;
  const std::string state = s.value("state", std::string());
  if (result.exit_code != 0) {
    std::string why = s.value("error", std::string());
    if (why.empty())
      why = "a provision step failed (see " + std::string("guestkit-seed show") + ")";
    return core::make_error(core::Errc::failed, "seed " + state + ": " + why);
  }
  for (const auto& item : s.value("not_applied", nlohmann::json::array()))
    core::log_notice("seed: not applied: ", item.value("key", std::string()), ": ",
                     item.value("why", std::string()));
  core::log_notice("seed: ", state, " (", s.value("source", std::string()), ", instance ",
                   s.value("instance_id", std::string()), ")");
  if (state == "already provisioned" || state == "no seed") return Outcome::unchanged;
  return Outcome::changed;
}

}  // namespace guestkit::plugins::seed
