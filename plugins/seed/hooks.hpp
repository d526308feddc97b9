#pragma once
// What guestkit-seed and 00-apply-seed call to get a seed: thin adapters over the
// readers of discover.hpp that turn their findings into SeedFiles and log what the
// caller must see (every seed found, the one used, the ones ignored and why).

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed {

// The seed of a live system: discovery in the documented order, every source found
// logged, the first one read. nullopt when there is none. When none is found at once,
// the storage drivers udev has not loaded yet are loaded (storage_drivers.hpp; each modprobe at
// most `modprobe_timeout`, 0: not done) and discovery looks again: a seed cdrom only
// appears once they are. Under a Root other than "/" nothing is discovered.
core::Result<std::optional<SeedFiles>> discover_seed(
    const core::Root& root, const std::string& swap_device,
    std::chrono::milliseconds modprobe_timeout = std::chrono::milliseconds(0));
// The seed on one device or image file (--device, seed.device), a host path.
core::Result<SeedFiles> read_seed_device(const std::string& device);
// A seed directory (--dir), a host path.
core::Result<SeedFiles> read_seed_dir(const std::string& dir);
// SMBIOS type 11 io.guestkit.agent-key, live system only; a read error is logged and
// counts as no key.
SmbiosSeed read_smbios_seed(const core::Root& root);

}  // namespace guestkit::plugins::seed
