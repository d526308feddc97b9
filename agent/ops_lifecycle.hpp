#pragma once
// The ops of the VM's life after its first boot: prepare-detach, prepare-unplug and
// status (agent/PROTOCOL.md). Each answers `ok` with a result whose "state" says
// what the platform may do (ready / busy / refused); errors are for bad args only.

#include <nlohmann/json.hpp>

#include "agent/ops.hpp"

namespace guestkit::agent {

struct AgentState;

Reply op_prepare_detach(AgentState& state, const nlohmann::json& args);
Reply op_prepare_unplug(AgentState& state, const nlohmann::json& args);
Reply op_status(AgentState& state, const nlohmann::json& args);

}  // namespace guestkit::agent
