// 04-reset-identity (bootstrap): when the VM's instance id differs from the one
// recorded at the last boot, this disk was cloned from another VM (or an image that
// booted once): give it its own machine-id and SSH host keys, so no two VMs share
// them (journal and DHCP client ids, host key pinning in known_hosts).
//
// The instance id is core::find_instance_id's (the one every caller uses: the
// platform's /etc/guestkit/instance-id, the guestkit.instance_id= kernel argument,
// the SMBIOS UUID, placeholders refused); it is recorded in
// /var/lib/guestkit/instance-id. When only /etc/machine-id names the VM there is
// nothing to compare: a clone has the same machine-id, and this plugin replaces it
// (taking it as the id would reset again at every boot). With no record
// yet (guestkit just installed on a running VM), the id is only recorded: resetting
// then would change the host keys of a VM that was never cloned. A fresh image
// without keys or machine-id gets them from 11-config-ssh and systemd anyway.

#include <sys/random.h>
#include <sys/stat.h>

#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/boot/host_keys.hpp"

namespace guestkit::plugins::boot {
namespace {

// 128 random bits as 32 lowercase hex digits, with the UUID v4 version and variant
// bits set like systemd's sd_id128_randomize.
core::Result<std::string> new_machine_id() {
  unsigned char b[16];
  if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b))
    return core::errno_error("getrandom");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out + "\n";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

core::Result<Outcome> reset_identity(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  const auto found = core::find_instance_id(root);
  // Nothing the platform gives tells this VM from its siblings.
  if (!found || found->source == core::InstanceIdSource::machine_id) return Outcome::skipped;
  const std::string* id = &found->value;
  auto recorded =
      core::read_file_if_exists(root, core::paths::kInstanceIdFile, 4096, core::Follow::never);
  if (!recorded) return std::move(recorded).error();
  if (*recorded && trimmed(**recorded) == *id) return Outcome::unchanged;

  core::WriteOptions record;
  record.create_parents = true;
  record.follow = core::Follow::never;
  if (!*recorded) {
    if (p.ctx.dry_run) {
      p.ctx.would("record instance id " + *id + " in " +
                  root.display(core::paths::kInstanceIdFile));
      return Outcome::changed;
    }
    if (auto w = core::write_file_atomic(root, core::paths::kInstanceIdFile, *id + "\n", record);
        !w)
      return std::move(w).error();
    return Outcome::changed;
  }

  // A clone. Check everything before changing anything.
  auto ssh = ssh_dir_present(root);
  if (!ssh) return std::move(ssh).error();
  auto mid = root.lstat(core::paths::kMachineId);
  if (!mid) return std::move(mid).error();
  auto dbus = root.lstat(core::paths::kDbusMachineId);
  if (!dbus) return std::move(dbus).error();
  const bool dbus_own = *dbus && S_ISREG((*dbus)->st_mode);  // a link to /etc/machine-id follows it

  if (p.ctx.dry_run) {
    p.ctx.would("new instance " + *id + " (was " + trimmed(**recorded) + "): new " +
                root.display(core::paths::kMachineId) + (*ssh ? " and SSH host keys" : ""));
    return Outcome::changed;
  }
  auto machine_id = new_machine_id();
  if (!machine_id) return std::move(machine_id).error();
  core::WriteOptions wo;
  wo.mode = 0444;
  wo.follow = core::Follow::never;
  // A missing or empty machine-id is systemd's to fill (its first-boot logic).
  const bool mid_set = *mid && S_ISREG((*mid)->st_mode) && (*mid)->st_size > 0;
  if (mid_set) {
    if (auto w = core::write_file_atomic(root, core::paths::kMachineId, *machine_id, wo); !w)
      return std::move(w).error();
  }
  if (dbus_own) {
    if (auto w = core::write_file_atomic(root, core::paths::kDbusMachineId, *machine_id, wo); !w)
      return std::move(w).error();
  }
  if (*ssh) {
    auto removed = remove_host_keys(root);
    if (!removed) return std::move(removed).error();
    if (auto g = generate_host_keys(p.ctx); !g) return std::move(g).error();
  }
  if (auto w = core::write_file_atomic(root, core::paths::kInstanceIdFile, *id + "\n", record); !w)
    return std::move(w).error();
  core::log_debug("identity: new instance ", *id);
  return Outcome::changed;
}

}  // namespace guestkit::plugins::boot
