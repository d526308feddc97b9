#pragma once
// 11-config-ssh's pure parts, for tests.

#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"

namespace guestkit::plugins::boot {

// The sshd settings guestkit enforces, in order.
std::vector<std::pair<std::string, std::string>> sshd_settings(const core::Config& config);
// Whether sshd_config (its global part) includes /etc/ssh/sshd_config.d/*.conf.
bool includes_dropin_dir(const std::vector<std::string>& lines);
// In-place hardening of sshd_config's global section (see config_ssh.cpp).
void harden_sshd_config(std::vector<std::string>& lines,
                        const std::vector<std::pair<std::string, std::string>>& settings);
// The drop-in's content.
std::string sshd_dropin_text(const core::Config& config);

}  // namespace guestkit::plugins::boot
