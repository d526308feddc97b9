#include "agent/conversation.hpp"

#include "core/log.hpp"

namespace guestkit::agent {

using nlohmann::json;

std::string clear_error(const std::string& code, const std::string& message) {
  return json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}.dump();
}

Conversation::Conversation(AgentState& state, const SecretBytes* key, std::string peer,
                           Transport& transport)
    : state_(state), key_(key), peer_(std::move(peer)), out_(transport) {}

core::Result<json> Conversation::greeting() {
  auto challenge = random_bytes(kChallengeSize);
  if (!challenge) return std::move(challenge).error();
  challenge_ = std::move(*challenge);
  channel_.reset();
  channel_problem_.clear();
  return agent::greeting(state_, challenge_);
}

bool Conversation::keyed() const {
  return key_ && state_.key_problem.empty() && !state_.auth_none;
}

bool Conversation::derive_channel() {
  if (channel_) return true;
  if (!channel_problem_.empty()) return false;
  auto channel = Channel::create(Channel::Role::agent, *key_, challenge_);
  if (!channel) {
    channel_problem_ = channel.error().message();
    core::log_error("cannot derive this connection's keys: ", channel_problem_);
    return false;
  }
  channel_.emplace(std::move(*channel));
  return true;
}

void Conversation::bad_encoding() {
  out_.send(clear_error("bad_request", "message is not valid UTF-8"));
}

void Conversation::handle(const std::string& line) {
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object()) {
    core::log_info("request from ", peer_, ": not a JSON object");
    out_.send(clear_error("bad_request", "message is not a JSON object"));
    return;
  }
  if (is_envelope(message)) {
    handle_sealed(message);
  } else {
    handle_clear(message);
  }
  wipe_json(message);
}

void Conversation::handle_clear(json& request) {
  const json id = request.contains("id") ? request["id"] : json(nullptr);
  const std::string op =
      request.contains("op") && request["op"].is_string() ? request["op"].get<std::string>() : "";
  if (!state_.auth_none && op != "info") {
    core::log_warning("clear request for '", op.substr(0, 64), "' from ", peer_,
                      " refused: orders must be sealed",
                      state_.key_problem.empty() ? "" : " (and there is no usable key: ",
                      state_.key_problem, state_.key_problem.empty() ? "" : ")");
    out_.send(clear_error("auth", state_.key_problem.empty()
                                      ? "requests must be sealed with the agent key"
                                      : "no usable agent key on this VM: only info"));
    return;
  }
  const json args = request.contains("args") ? request["args"] : json::object();
  respond(request, id, op, args, /*sealed=*/false);
}

void Conversation::handle_sealed(const json& envelope) {
  if (keyed() && !derive_channel()) {
    out_.finish_with(
        clear_error("failed", "internal error: the agent cannot use its cryptography"));
    return;
  }
  if (!channel_) {
    core::log_warning(
        "sealed request from ", peer_, " refused: ",
        state_.auth_none ? "agent.auth is none" : "no usable key: " + state_.key_problem);
    out_.send(clear_error("auth", "authentication failed"));
    return;
  }
  auto plain = channel_->open(envelope);
  if (!plain) {
    core::log_warning("request from ", peer_, " does not authenticate (", plain.error().context,
                      "), closing");
    out_.finish_with(clear_error("auth", "authentication failed"));
    return;
  }
  const auto& bytes = plain->bytes();
  json request = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    seal_and_send(Reply::error("bad_request", "sealed body is not a JSON object").to_json(nullptr));
    return;
  }
  const json id = request.contains("id") ? request["id"] : json(nullptr);
  const std::string op =
      request.contains("op") && request["op"].is_string() ? request["op"].get<std::string>() : "";
  const json args = request.contains("args") ? request["args"] : json::object();
  respond(request, id, op, args, /*sealed=*/true);
  wipe_json(request);
}

void Conversation::respond(const json& request, const json& id, const std::string& op,
                           const json& args, bool sealed) {
  Reply reply;
  const bool id_ok = id.is_string() || id.is_number_integer();
  if (!id_ok) {
    reply = Reply::error("bad_request", "id must be a string or an integer");
  } else if (op.empty()) {
    reply = Reply::error("bad_request", "op is missing");
  } else if (!args.is_object()) {
    reply = Reply::error("bad_request", "args must be an object");
  } else if (op != "info" && (!request.contains("instance_id") ||
                              !request["instance_id"].is_string() || state_.instance_id.empty() ||
                              request["instance_id"].get<std::string>() != state_.instance_id)) {
    core::log_warning("request '", op.substr(0, 64), "' from ", peer_,
                      " is for another instance, refused");
    reply = Reply::error("wrong_instance", "the request is for another instance");
  } else {
    reply = run_op(state_, op, args);
    core::log_info("request ", id.dump().substr(0, 64), " '", op.substr(0, 64), "' from ", peer_,
                   ": ", reply.ok ? "ok" : reply.code + ": " + reply.message);
  }
  const json answer = reply.to_json(id_ok ? id : json(nullptr));
  if (sealed) {
    seal_and_send(answer);
  } else {
    out_.send(answer.dump());
  }
}

void Conversation::seal_and_send(const json& answer) {
  auto line = channel_->seal(answer.dump());
  if (!line) {
    core::log_error("cannot seal a response: ", line.error().message());
    out_.finish_with(clear_error("failed", "internal error"));
    return;
  }
  out_.send(*line);
}

}  // namespace guestkit::agent
