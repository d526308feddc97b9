#pragma once
// guestkit-ctl: the platform's client, the reference for PROTOCOL.md.

#include "core/cli.hpp"

namespace guestkit::agent {

const core::ToolSpec& ctl_tool();
// Runs one command; returns the exit code: 0 every step succeeded, 1 the order ran
// but a step failed, 2 refused or failed (connection, authentication, an error
// answer), 64 usage.
int run_ctl(const core::CliArgs& args);

}  // namespace guestkit::agent
