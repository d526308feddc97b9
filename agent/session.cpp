#include "agent/session.hpp"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>

#include "agent/framing.hpp"
#include "agent/peer.hpp"
#include "agent/protocol.hpp"
#include "core/log.hpp"

namespace guestkit::agent {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

std::string clear_error(const std::string& code, const std::string& message) {
  return json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}}.dump();
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::io_context& io, AgentState& state, asio::generic::stream_protocol::socket socket,
          std::string peer)
      : state_(state),
        socket_(std::move(socket)),
        read_timer_(io),
        session_timer_(io),
        reader_(state.ctx.config.agent.max_message),
        peer_(std::move(peer)) {}

  core::Status start() {
    auto challenge = random_bytes(kChallengeSize);
    if (!challenge) return std::move(challenge).error();
    challenge_ = std::move(*challenge);
    session_timer_.expires_after(state_.ctx.config.agent.session_timeout);
    session_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      core::log_warning("session with ", self->peer_,
                        " lasted longer than agent.session_timeout, closing");
      self->abort("timeout", "session too long");
    });
    send(greeting(state_, challenge_).dump());
    // The greeting is on the wire now (Asio writes at once when nothing is queued).
    // The channel keys, and libcrypto with them, come after it, while the peer derives
    // its own and seals its first request (agent/libcrypto.hpp).
    if (keyed())
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->derive_channel(); });
    arm_read_timer();
    read();
    return {};
  }

  void set_key(const SecretBytes* key) { key_ = key; }

 private:
  // Whether sealed requests can be opened: a usable key and auth not switched off.
  bool keyed() const { return key_ && state_.key_problem.empty() && !state_.auth_none; }

  // Derives the channel once; false (logged) when the crypto is unusable.
  bool derive_channel() {
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

  void arm_read_timer() {
    read_timer_.expires_after(state_.ctx.config.agent.read_timeout);
    read_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      core::log_warning("no complete message from ", self->peer_,
                        " within agent.read_timeout, closing");
      self->abort("timeout", "no complete message in time");
    });
  }

  void read() {
    if (closing_) return;
    socket_.async_read_some(
        asio::buffer(buffer_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) {
            if (ec != asio::error::operation_aborted && ec != asio::error::eof)
              core::log_debug("read from ", self->peer_, ": ", ec.message());
            self->close();
            return;
          }
          self->reader_.feed(std::string_view(self->buffer_.data(), n));
          ::explicit_bzero(self->buffer_.data(), n);
          self->drain();
        });
  }

  // Handles every complete line buffered, then reads on (unless closing).
  void drain() {
    std::string line;
    while (!closing_) {
      const auto status = reader_.next(line);
      if (status == LineReader::Status::need_more) break;
      if (status == LineReader::Status::too_long) {
        core::log_warning("message from ", peer_, " longer than agent.max_message (",
                          state_.ctx.config.agent.max_message, " bytes), closing");
        finish_with(clear_error(
            "too_long", "message longer than " +
                            std::to_string(state_.ctx.config.agent.max_message) + " bytes"));
        return;
      }
      arm_read_timer();  // a complete message: the next one gets a fresh deadline
      if (status == LineReader::Status::bad_encoding) {
        send(clear_error("bad_request", "message is not valid UTF-8"));
      } else {
        handle(line);
      }
      ::explicit_bzero(line.data(), line.size());
    }
    if (!closing_) read();
  }

  void handle(const std::string& line) {
    json message = json::parse(line, nullptr, false);
    if (message.is_discarded() || !message.is_object()) {
      core::log_info("request from ", peer_, ": not a JSON object");
      send(clear_error("bad_request", "message is not a JSON object"));
      return;
    }
    if (is_envelope(message)) {
      handle_sealed(message);
    } else {
      handle_clear(message);
    }
    wipe_json(message);
  }

  void handle_clear(json& request) {
    const json id = request.contains("id") ? request["id"] : json(nullptr);
    const std::string op =
        request.contains("op") && request["op"].is_string() ? request["op"].get<std::string>() : "";
    if (!state_.auth_none && op != "info") {
      core::log_warning("clear request for '", op.substr(0, 64), "' from ", peer_,
                        " refused: orders must be sealed",
                        state_.key_problem.empty() ? "" : " (and there is no usable key: ",
                        state_.key_problem, state_.key_problem.empty() ? "" : ")");
      send(clear_error("auth", state_.key_problem.empty()
                                   ? "requests must be sealed with the agent key"
                                   : "no usable agent key on this VM: only info"));
      return;
    }
    const json args = request.contains("args") ? request["args"] : json::object();
    respond(request, id, op, args, /*sealed=*/false);
  }

  void handle_sealed(const json& envelope) {
    if (keyed() && !derive_channel()) {
      finish_with(clear_error("failed", "internal error: the agent cannot use its cryptography"));
      return;
    }
    if (!channel_) {
      core::log_warning(
          "sealed request from ", peer_, " refused: ",
          state_.auth_none ? "agent.auth is none" : "no usable key: " + state_.key_problem);
      send(clear_error("auth", "authentication failed"));
      return;
    }
    auto plain = channel_->open(envelope);
    if (!plain) {
      core::log_warning("request from ", peer_, " does not authenticate (", plain.error().context,
                        "), closing");
      finish_with(clear_error("auth", "authentication failed"));
      return;
    }
    const auto& bytes = plain->bytes();
    json request = json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
      seal_and_send(
          Reply::error("bad_request", "sealed body is not a JSON object").to_json(nullptr));
      return;
    }
    const json id = request.contains("id") ? request["id"] : json(nullptr);
    const std::string op =
        request.contains("op") && request["op"].is_string() ? request["op"].get<std::string>() : "";
    const json args = request.contains("args") ? request["args"] : json::object();
    respond(request, id, op, args, /*sealed=*/true);
    wipe_json(request);
  }

  void respond(const json& request, const json& id, const std::string& op, const json& args,
               bool sealed) {
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
      send(answer.dump());
    }
  }

  void seal_and_send(const json& answer) {
    auto line = channel_->seal(answer.dump());
    if (!line) {
      core::log_error("cannot seal a response: ", line.error().message());
      finish_with(clear_error("failed", "internal error"));
      return;
    }
    send(*line);
  }

  void send(std::string line) {
    outbox_.push_back(std::move(line) + "\n");
    if (!writing_) write_next();
  }

  void finish_with(std::string line) {
    send(std::move(line));
    closing_ = true;
    if (!writing_) close();
  }

  void write_next() {
    if (outbox_.empty()) {
      writing_ = false;
      if (closing_) close();
      return;
    }
    writing_ = true;
    asio::async_write(
        socket_, asio::buffer(outbox_.front()),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          self->outbox_.pop_front();
          if (ec) {
            self->close();
            return;
          }
          self->write_next();
        });
  }

  // A deadline: one best-effort line, then the socket goes.
  void abort(const std::string& code, const std::string& message) {
    if (socket_.is_open()) {
      const std::string line = clear_error(code, message) + "\n";
      [[maybe_unused]] auto n =
          ::send(socket_.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    close();
  }

  void close() {
    closing_ = true;
    boost::system::error_code ignored;
    read_timer_.cancel();
    session_timer_.cancel();
    if (socket_.is_open()) {
      socket_.shutdown(asio::socket_base::shutdown_both, ignored);
      socket_.close(ignored);
    }
    reader_.clear();
  }

  AgentState& state_;
  const SecretBytes* key_ = nullptr;
  asio::generic::stream_protocol::socket socket_;
  asio::steady_timer read_timer_;
  asio::steady_timer session_timer_;
  LineReader reader_;
  std::string peer_;
  Bytes challenge_;
  std::optional<Channel> channel_;
  std::string channel_problem_;
  std::array<char, 16384> buffer_{};
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

int run_session(AgentState& state, int fd, const SecretBytes* key) {
  const Peer peer = describe_peer(fd);
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    core::log_error(
        "standard input is not a socket: run guestkit-agent from inetd, xinetd or "
        "systemd (or with --listen)");
    ::close(fd);
    return 2;
  }
  if (!peer_allowed(state.ctx.config.agent.allow_from, peer.family, peer.addr)) {
    core::log_warning("connection from ", peer.text, " refused: not in agent.allow_from");
    ::close(fd);
    return 0;
  }
  core::log_info("connection from ", peer.text);
  asio::io_context io;
  boost::system::error_code ec;
  asio::generic::stream_protocol::socket socket(io);
  socket.assign(asio::generic::stream_protocol(local.ss_family, SOCK_STREAM), fd, ec);
  if (ec) {
    core::log_error("cannot use the connection: ", ec.message());
    ::close(fd);
    return 2;
  }
  auto session = std::make_shared<Session>(io, state, std::move(socket), peer.text);
  session->set_key(key);
  if (auto ok = session->start(); !ok) {
    core::log_error("cannot start the session: ", ok.error().message());
    return 2;
  }
  session.reset();
  io.run();
  return 0;
}

}  // namespace guestkit::agent
