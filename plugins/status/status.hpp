#pragma once
// Everything guestkit manages on the VM, in one JSON answer: the agent's `status` op
// and `guestkit status` read the same. Each part says since when:
//
//   {"instance_id", "provisioned": bool, "provisioned_since",
//    "boot": {"state": "done"|"running"|"pending", "exit_code", "stages": {STAGE:
//             {"state": "ok"|"partial"|"failed"|"pending", "exit_code", "started",
//              "finished", "duration_ms", "failed": [plugins]}}},
//    "seed": {...} (the last seed run's summary, when there was one),
//    "disks": [{"name", "devname", "mountpoint", "fstype", "label", "since"}],
//    "interfaces": [{"name", "backend", "dhcp", "since"}],
//    "cpus": {"online", "offline", "fixed", "since"},
//    "memory": {"online", "offline", "block_size", "online_bytes", "zones", "since"},
//    "last_prepare": {"detach": {...}, "unplug": {...}}}
//
// Times are seconds since the epoch (UTC); "since" of cpus and memory is the last
// hotplug run or prepare-unplug that changed them (the records in /run/guestkit/runs:
// runs/cpu-add/cpuN.json, one per CPU, and 0.1.0's single runs/cpu-add.json), else
// the boot's mount stage (coldplug).

#include <nlohmann/json.hpp>
#include <string>

#include "core/context.hpp"

namespace guestkit::plugins::status {

// Record names in /run/guestkit/runs (core::paths::kRunsDir).
inline constexpr const char* kPrepareDetachRecord = "prepare-detach.json";
inline constexpr const char* kPrepareUnplugRecord = "prepare-unplug.json";

nlohmann::json collect(const core::Context& ctx, const std::string& instance_id);

// 0 when every boot stage ran without a failure, 1 (partial) when a stage has not run
// yet or a non-critical plugin failed, 2 when a stage failed (core/cli.hpp's codes).
int boot_exit_code(const nlohmann::json& status);
// Whether every boot stage has a record of this boot.
bool boot_done(const nlohmann::json& status);

// Writes an op's answer with the time, for `status` (best effort, debug log on error).
void record_op(const core::Root& root, const char* record_name, const nlohmann::json& answer);

}  // namespace guestkit::plugins::status
