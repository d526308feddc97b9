#pragma once
// This VM's instance id: the one name every part of guestkit uses to tell this VM
// from its siblings (the agent's greeting and its provisioned/ marker, the clone
// check of 04-reset-identity, the cron spreading of 03-randomize-cron). One function,
// one order, so they can never disagree:
//
//   1. /etc/guestkit/instance-id   written by the platform (or by a seed)
//   2. guestkit.instance_id=       on the kernel command line
//   3. the SMBIOS system UUID      /sys/class/dmi/id/product_uuid, lower-cased
//   4. /etc/machine-id             the OS's own id, when the platform gives none
//
// The first source that holds a valid id wins. Valid: [A-Za-z0-9][A-Za-z0-9._-]{0,127}
// (it becomes a file name) and not a placeholder: hypervisors that leave the UUID
// unset report all zeros, all ones or the well-known 03000200-0400-0500-0006-
// 000700080009 (the same on every VM), and systemd writes "uninitialized" into
// machine-id during its first boot. A placeholder in any source is skipped, so no two
// VMs share one id (and one provisioned/ marker) because their hypervisor has no UUID.

#include <optional>
#include <string>
#include <string_view>

#include "core/root.hpp"

namespace guestkit::core {

enum class InstanceIdSource { file, kernel, dmi, machine_id };
std::string_view instance_id_source_name(
    InstanceIdSource source);  // "/etc/guestkit/instance-id", ...

struct InstanceId {
  std::string value;
  InstanceIdSource source = InstanceIdSource::file;
};

// nullopt when no source holds a valid id.
std::optional<InstanceId> find_instance_id(const Root& root);

// True for an id that names no VM in particular (see above). Case-insensitive.
bool is_placeholder_instance_id(std::string_view id);
// The shape rule above, without the placeholder check.
bool valid_instance_id(std::string_view id);

// Value of `key=` on <root>/proc/cmdline (the last one wins, like the kernel);
// nullopt when absent or unreadable.
std::optional<std::string> kernel_arg(const Root& root, std::string_view key);

}  // namespace guestkit::core
