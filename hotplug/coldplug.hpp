#pragma once
// --coldplug for the helpers whose sweep is a library call (guestkit-cpu,
// guestkit-memory): the same work as their boot plugins, run by hand.

#include <functional>
#include <string_view>

#include "core/cli.hpp"
#include "core/context.hpp"
#include "plugins/sweep.hpp"

namespace guestkit::hotplug {

using Sweep = std::function<core::Result<plugins::SweepReport>(const core::Context&)>;

// Does nothing when `feature` is switched off in guestkit.yml; otherwise sweeps and
// logs the report. Exit 0, or 1 when some objects were left offline, or 2 when the
// sweep could not run at all.
int run_coldplug(core::Context& ctx, const core::ToolSpec& tool, std::string_view feature,
                 const Sweep& sweep);

}  // namespace guestkit::hotplug
