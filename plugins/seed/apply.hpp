#pragma once
// Applying a seed (guestkit-seed apply, bootstrap plugin 00-apply-seed), once per
// instance id:
//
//  1. normalise (normalise.hpp); parse_order + prepare_order validate the whole order
//     against the image. Any problem: nothing changes.
//  2. The instance id: the seed's (meta-data instance-id, meta_data.json uuid,
//     order.json instance_id), else the agent's (/etc/guestkit/instance-id, the DMI
//     product UUID, /etc/machine-id). An instance already provisioned (the marker
//     /var/lib/guestkit/provisioned/<id>, by a seed or the agent) changes nothing.
//  3. The seed's id goes to /etc/guestkit/instance-id, so the agent greets with it.
//  4. The agent key: written to agent.key_file (0600 root, atomically, no symlink
//     followed) when the key was last written for another instance id (the id is
//     recorded in /var/lib/guestkit/agent-key.instance), so a new instance gets its
//     own key and a reboot rewrites nothing. Never logged.
//  5. The `provision` plugins run the order; on success the marker is written (the
//     agent then greets `provisioned: true`). A seed that orders nothing (only a key)
//     writes no marker, so the platform can still provision through the agent.
//  6. A summary without secrets (source, instance id, what was applied, what was not
//     and why, each plugin's outcome) goes to /run/guestkit/seed.json.
// Passwords reach the disk only hashed (prepare_order hashes plaintext first).

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/context.hpp"
#include "plugins/plugin.hpp"
#include "plugins/seed/normalise.hpp"

namespace guestkit::plugins::seed {

struct ApplyOutcome {
  int exit_code = 0;       // core::ExitCode
  nlohmann::json summary;  // what went to seed.json
};

// `files` null: no seed (only SMBIOS may bring a key).
ApplyOutcome apply_seed(core::Context& ctx, const SeedFiles* files, const SmbiosSeed& smbios);

// Which seed: --dir DIR (read_seed_dir_simple), --device DEV or seed.device
// (read_seed_device); else, on the live system only, discover_seeds(): the first
// found wins, each one found is logged. Under --root with neither: none.
struct SeedChoice {
  std::optional<std::string> device;
  std::optional<std::string> dir;
  // Discovery may load the drivers of storage devices udev has not set up yet
  // (storage_drivers.hpp): apply does; show, which changes nothing, does not.
  bool load_drivers = true;
};
core::Result<std::optional<SeedFiles>> find_seed(const core::Context& ctx,
                                                 const SeedChoice& choice);

// The default user for cloud-config (SeedConfig::default_user, else by os-release).
std::string default_user(const core::Context& ctx);

// The agent's own instance id when the seed gives none (agent/state.cpp's order of
// sources).
std::string fallback_instance_id(const core::Root& root);
// The provisioned marker the agent uses (agent/state.cpp: kProvisionedDir/<id>).
bool instance_provisioned(const core::Root& root, const std::string& instance_id);

// 00-apply-seed (bootstrap, first; apply_plugin.cpp): the above, once per instance id.
core::Result<Outcome> apply_seed(PluginContext& p);

}  // namespace guestkit::plugins::seed
