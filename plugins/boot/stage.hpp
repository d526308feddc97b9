#pragma once
// guestkit-boot's work once its command line is parsed (boot_main.cpp is the thin
// main, as the hotplug helpers' are): print the report, list a stage's plan, or run
// a stage under the boot lock with its record in /run/guestkit/boot-STAGE.json.

#include <iosfwd>
#include <string>
#include <vector>

#include "core/cli.hpp"
#include "core/context.hpp"

namespace guestkit::plugins::boot {

struct StageRequest {
  std::string stage;  // "" with list: every stage
  bool list = false;
  bool report = false;
  std::vector<std::string> only;  // --only
  std::vector<std::string> skip;  // --skip
};

// "a,b" -> {"a", "b"} (empty items dropped).
std::vector<std::string> split_names(const std::string& list);

// Exit code as in core/cli.hpp. A name in only/skip that is no plugin of the stage is
// a usage error (a misspelt name would silently run everything, or nothing), told on
// `err`; a plan that cannot be made is reported as the tool's fatal error.
int run_stage(core::Context& ctx, const StageRequest& request, const core::ToolSpec& tool,
              std::ostream& out, std::ostream& err);

}  // namespace guestkit::plugins::boot
