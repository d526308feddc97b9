#pragma once
// The services a data disk lists in MOUNT/.guestkit/services: stopped before its
// filesystem is unmounted (disk-remove, prepare-detach), started again when a
// prepare-detach cannot finish. The disk is the customer's: names are validated
// before they reach systemctl or /etc/init.d.

#include <optional>
#include <string>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"

namespace guestkit::plugins::disk {

// A unit or init script name: [A-Za-z0-9][A-Za-z0-9@._:-]*, at most 128, no "..".
bool valid_service(const std::string& name);

// MOUNT/.guestkit/services, read through the descriptor of the mount's root (the
// mount whose device number was checked): no link placed on the disk is followed.
// std::nullopt when there is no such file.
core::Result<std::optional<std::string>> read_services(int mount_fd);

// The valid names of that file (comments and blank lines skipped); invalid ones are
// logged (as `who`'s) and left out.
std::vector<std::string> listed_services(const std::string& who, const std::string& text);

enum class ServiceAction { stop, start, is_active };
// The command for `action` on `name`: systemctl under systemd, else
// /etc/init.d/NAME stop|start|status. Errc::not_found when there is no usable script.
core::Result<std::vector<std::string>> service_argv(const core::Context& ctx,
                                                    const std::string& name, ServiceAction action);

// Whether systemd is PID 1 (its run directory exists under the root).
bool under_systemd(const core::Context& ctx);

}  // namespace guestkit::plugins::disk
