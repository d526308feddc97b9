#include "plugins/seed/hooks.hpp"

#include "core/log.hpp"
#include "plugins/seed/discover.hpp"

namespace guestkit::plugins::seed {

core::Result<std::optional<SeedFiles>> discover_seed(const core::Root& root,
                                                     const std::string& swap_device) {
  std::vector<std::string> ignored;
  const auto found = discover(root, swap_device, &ignored);
  for (const auto& why : ignored) core::log_info("seed: ", why, ", ignoring");
  for (std::size_t i = 0; i < found.size(); ++i)
    core::log_info("seed: found ", found[i].path, " (", found[i].how, ")",
                   i == 0 ? ": used" : ": not used, another seed comes first");
  if (found.empty()) return std::optional<SeedFiles>{};
  auto files = read(root, found.front());
  if (!files) return std::move(files).error();
  return std::optional<SeedFiles>(std::move(*files));
}

core::Result<SeedFiles> read_seed_device(const std::string& device) {
  return read_device(device);
}

core::Result<SeedFiles> read_seed_dir(const std::string& dir) {
  return read_dir(core::Root::host(), dir);
}

SmbiosSeed read_smbios_seed(const core::Root& root) {
  auto seed = read_smbios(root);
  if (!seed) {
    core::log_warning("seed: SMBIOS OEM strings: ", seed.error().message(), ", ignoring");
    return {};
  }
  return std::move(*seed);
}

}  // namespace guestkit::plugins::seed
