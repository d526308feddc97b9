// prepare-detach, prepare-unplug, status: see ops_lifecycle.hpp.

#include "agent/ops_lifecycle.hpp"

#include <chrono>

#include "agent/state.hpp"
#include "core/lock.hpp"
#include "core/log.hpp"
#include "plugins/disk/prepare.hpp"
#include "plugins/status/status.hpp"
#include "plugins/unplug/unplug.hpp"

namespace guestkit::agent {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

Reply from_error(const core::Error& e) {
  return Reply::error(e.code == core::Errc::bad_input ? "invalid" : "failed", e.message());
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

Reply op_prepare_detach(AgentState& s, const json& args) {
  const auto start = Clock::now();
  auto parsed = plugins::disk::parse_detach_args(args);
  if (!parsed) return from_error(parsed.error());
  auto answer = plugins::disk::prepare_detach(s.ctx, parsed->first, parsed->second);
  if (!answer) return from_error(answer.error());
  (*answer)["duration_ms"] = ms_since(start);
  core::log_notice("prepare-detach ", answer->value("disk", ""), ": ", answer->value("state", ""));
  plugins::status::record_op(s.ctx.root, plugins::status::kPrepareDetachRecord, *answer);
  Reply r;
  r.result = std::move(*answer);
  return r;
}

Reply op_prepare_unplug(AgentState& s, const json& args) {
  const auto start = Clock::now();
  auto req = plugins::unplug::parse_request(args);
  if (!req) return from_error(req.error());
  // The same lock as memory onlining: a memory-add event in between would weigh zone
  // sizes that are changing under it.
  std::optional<core::Lock> lock;
  if (req->memory && !s.ctx.dry_run) {
    auto l = core::Lock::acquire(s.ctx.root, "memory-zones", std::chrono::seconds(60));
    if (!l) return Reply::error("busy", l.error().message());
    lock.emplace(std::move(l).value());
  }
  auto answer = plugins::unplug::prepare(s.ctx, *req);
  if (!answer) return from_error(answer.error());
  (*answer)["duration_ms"] = ms_since(start);
  core::log_notice("prepare-unplug ", args.dump(), ": ", answer->value("state", ""));
  plugins::status::record_op(s.ctx.root, plugins::status::kPrepareUnplugRecord, *answer);
  Reply r;
  r.result = std::move(*answer);
  return r;
}

Reply op_status(AgentState& s, const json& args) {
  if (!args.is_object() || !args.empty()) return Reply::error("invalid", "status takes no args");
  Reply r;
  r.result = plugins::status::collect(s.ctx, s.instance_id);
  return r;
}

}  // namespace guestkit::agent
