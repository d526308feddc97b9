#pragma once
// Where seeds come from on a live system. The readers (discovery in the documented
// order, libarchive for iso9660 and the in-swap tar, SMBIOS OEM strings) are the
// other half of issue 15; these hooks are what guestkit-seed and 00-apply-seed call,
// and until the readers are wired in they find nothing (hooks.cpp).

#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed {

// Every seed found on the live system, the one that wins first. Now: none.
core::Result<std::vector<SeedFiles>> discover_seeds(const core::Root& root);
// The seed on one device (--device, seed.device). Now: Errc::failed, "no reader".
core::Result<SeedFiles> read_seed_device(const core::Root& root, const std::string& device);
// SMBIOS type 11 io.guestkit.agent-key, live system only. Now: none.
SmbiosSeed read_smbios_seed(const core::Root& root);

}  // namespace guestkit::plugins::seed
