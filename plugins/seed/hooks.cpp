#include "plugins/seed/hooks.hpp"

#include "core/log.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/seed/storage_drivers.hpp"

namespace guestkit::plugins::seed {

core::Result<std::optional<SeedFiles>> discover_seed(const core::Root& root,
                                                     const std::string& swap_device,
                                                     std::chrono::milliseconds modprobe_timeout) {
  std::vector<std::string> ignored;
  auto found = discover(root, swap_device, &ignored);
  if (found.empty() && root.is_host() && modprobe_timeout.count() > 0) {
    // udev's coldplug may not have loaded a seed cdrom's drivers yet (storage_drivers.hpp).
    const auto d = load_storage_drivers(root, modprobe_timeout);
    for (const auto& p : d.problems) core::log_info("seed: ", p, ", ignoring");
    // A driver kmod has but would not load: a seed on that device stays unseen, so this
    // is said where an administrator looks, with modprobe's reason.
    for (const auto& r : d.refused)
      core::log_warning("seed: storage driver not loaded for ", r, ", ignoring");
    if (!d.loaded.empty()) {
      std::string list;
      for (const auto& l : d.loaded) list += (list.empty() ? "" : ", ") + l;
      core::log_info("seed: none found at once; loaded the drivers of ", list, " in ",
                     d.took.count(), " ms, looking again");
      ignored.clear();
      found = discover(root, swap_device, &ignored);
    }
  }
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
