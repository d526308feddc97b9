#pragma once
// What the agent knows about its VM: the instance id, the agent key, whether this
// instance was provisioned (a marker per instance id), and its own delivery entry
// (xinetd service, inetd.conf line, systemd socket) that it retires after success.

#include <sys/types.h>

#include <string>
#include <vector>

#include "agent/crypto.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::agent {

// core::find_instance_id's value (the order every guestkit part uses, placeholders
// refused); "" when no source holds a valid id.
std::string read_instance_id(const core::Root& root);

struct AgentKey {
  SecretBytes key;      // empty unless usable
  std::string problem;  // why not: "missing", "owned by uid 1000", ...
  bool usable() const { return !key.empty(); }
};
// agent.key_file under the root: a regular file (no symlink), owned by root, mode
// 0600 or stricter, holding the key as hex.
AgentKey load_agent_key(const core::Root& root, const core::AgentConfig& config);

bool is_provisioned(const core::Root& root, const std::string& instance_id);
core::Status mark_provisioned(const core::Root& root, const std::string& instance_id,
                              const std::string& record);
std::string marker_path(const std::string& instance_id);

// Disables (retire) or re-enables every delivery entry the image has: `disable = yes`
// in /etc/xinetd.d/guestkit-agent (xinetd is sent SIGHUP on the live system, if
// /run/xinetd.pid names xinetd: see reload_daemon), the
// guestkit-agent line of /etc/inetd.conf commented as update-inetd --disable does
// ("#<off># "), and, on the live system under systemd, `systemctl disable --now
// guestkit-agent.socket`. Returns what was done, one phrase each.
core::Result<std::vector<std::string>> set_delivery_enabled(const core::Root& root, bool enabled);

// SIGHUP to the inet superserver `program` ("xinetd", "inetd") that `pid_file` names,
// only if that process is `program` (core::signal_pid_file): a stale pid file naming
// an unrelated process is an error and nothing is signalled. Returns the pid.
core::Result<pid_t> reload_daemon(const core::Root& root, const char* pid_file,
                                  const std::string& program);

}  // namespace guestkit::agent
