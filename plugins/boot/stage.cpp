#include "plugins/boot/stage.hpp"

#include <algorithm>
#include <ostream>
#include <utility>

#include "core/cli.hpp"
#include "core/paths.hpp"
#include "plugins/boot/report.hpp"
#include "plugins/runner.hpp"

namespace guestkit::plugins::boot {

std::vector<std::string> split_names(const std::string& list) {
  std::vector<std::string> out;
  std::string current;
  for (const char c : list + ",") {
    if (c == ',') {
      if (!current.empty()) out.push_back(std::exchange(current, {}));
    } else {
      current += c;
    }
  }
  return out;
}

int run_stage(core::Context& ctx, const StageRequest& request, const core::ToolSpec& tool,
              std::ostream& out, std::ostream& err) {
  if (request.report)
    return print_boot_report(out, ctx.root) ? core::kExitOk : core::kExitPartial;

  if (request.list) {
    std::vector<std::string> stages;
    if (request.stage.empty())
      stages.assign(std::begin(kBootStages), std::end(kBootStages));
    else
      stages.push_back(request.stage);
    for (const auto& stage : stages) {
      auto plan = plan_plugins(ctx, stage);
      if (!plan) {
        core::report_fatal(tool, plan.error().message());
        return core::kExitFailed;
      }
      print_plan(out, stage, *plan);
    }
    return core::kExitOk;
  }

  RunOptions options;
  options.lock = "boot";  // stages never interleave, even when started by hand
  options.record_path = std::string(core::paths::kBootReportPrefix) + request.stage + ".json";
  options.timeout = ctx.config.boot.plugin_timeout;
  options.only = request.only;
  options.skip = request.skip;
  if (!options.only.empty() || !options.skip.empty()) {
    auto plan = plan_plugins(ctx, request.stage);
    if (!plan) {
      core::report_fatal(tool, plan.error().message());
      return core::kExitFailed;
    }
    for (const auto* names : {&options.only, &options.skip}) {
      for (const auto& name : *names) {
        if (std::none_of(plan->begin(), plan->end(),
                         [&](const auto& e) { return e.name == name; })) {
          err << tool.name << ": no plugin '" << name << "' in stage " << request.stage << "\n";
          return core::kExitUsage;
        }
      }
    }
  }
  return run_plugins(ctx, request.stage, options).exit_code();
}

}  // namespace guestkit::plugins::boot
