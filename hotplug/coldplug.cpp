#include "hotplug/coldplug.hpp"

#include "core/log.hpp"

namespace guestkit::hotplug {

int run_coldplug(core::Context& ctx, const core::ToolSpec& tool, std::string_view feature,
                 const Sweep& sweep) {
  if (!ctx.config.feature_enabled(feature)) {
    core::log_info("switched off in config (", feature, ": false), nothing to do");
    return core::kExitOk;
  }
  auto report = sweep(ctx);
  if (!report) {
    core::report_fatal(tool, report.error().message());
    return core::kExitFailed;
  }
  plugins::log_report(*report);
  return report->failures.empty() ? core::kExitOk : core::kExitPartial;
}

}  // namespace guestkit::hotplug
