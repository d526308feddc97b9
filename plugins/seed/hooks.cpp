// Placeholders until the seed readers are merged (see hooks.hpp): they find nothing,
// and say so, rather than guess.

#include "plugins/seed/hooks.hpp"

namespace guestkit::plugins::seed {

core::Result<std::vector<SeedFiles>> discover_seeds(const core::Root&) {
  return std::vector<SeedFiles>{};
}

core::Result<SeedFiles> read_seed_device(const core::Root&, const std::string& device) {
  return core::make_error(core::Errc::failed,
                          device + ": this build has no seed device reader (use --dir)");
}

SmbiosSeed read_smbios_seed(const core::Root&) {
  return {};
}

}  // namespace guestkit::plugins::seed
