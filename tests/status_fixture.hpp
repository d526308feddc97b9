#pragma once
// The boot stages' records that `status` (the agent op and `guestkit status`) reads,
// written as the runner writes them: shared by tests/unit/status_test.cpp and
// tests/integration/status_cli_test.cpp.

#include <cstdint>
#include <string>

#include "plugins/runner.hpp"
#include "tests/support.hpp"

namespace guestkit::test {

// run/guestkit/boot-STAGE.json: a plugin that changed something, then one whose status
// is `worst` (critical when it failed), the run started at `at` (seconds since 1970).
inline void write_stage_record(const TempDir& t, const std::string& stage, plugins::RunStatus worst,
                               std::int64_t at) {
  plugins::RunSummary s;
  s.trigger = stage;
  s.started = at;
  s.records.push_back(
      {"10-a", plugins::Source::builtin, plugins::RunStatus::changed, false, "", {}});
  s.records.push_back(
      {"20-b", plugins::Source::builtin, worst, worst == plugins::RunStatus::failed, "", {}});
  t.write("run/guestkit/boot-" + stage + ".json", plugins::record_json(s));
}

}  // namespace guestkit::test
