#pragma once
// The ops of a request, once it is authenticated (or clear `info`): each takes the
// request's args and answers a result object or an error with a code. Nothing here
// reads or writes the socket.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent/crypto.hpp"
#include "core/context.hpp"

namespace guestkit::agent {

struct AgentState {
  core::Context& ctx;
  std::string instance_id;  // "" when the VM has none we can read
  std::string key_problem;  // why there is no usable key ("" when there is one)
  bool auth_none = false;   // agent.auth: none
};

struct Reply {
  bool ok = true;
  nlohmann::json result = nlohmann::json::object();
  std::string code;     // error: "invalid", "unknown_op", ...
  std::string message;  // error: for the platform; never a secret

  static Reply error(std::string code, std::string message) {
    return Reply{false, nullptr, std::move(code), std::move(message)};
  }
  // {"id":..,"ok":true,"result":..} or {"id":..,"ok":false,"error":{"code":..,"message":..}}
  nlohmann::json to_json(const nlohmann::json& id) const;
};

const std::vector<std::string>& op_names();

// The greeting: protocol version, ops, instance id, provisioned state, challenge.
nlohmann::json greeting(const AgentState& state, const Bytes& challenge);

// Runs `op` (args may hold secrets; the caller wipes them afterwards).
Reply run_op(AgentState& state, const std::string& op, const nlohmann::json& args);

}  // namespace guestkit::agent
