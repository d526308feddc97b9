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

#include "agent/conversation.hpp"
#include "agent/framing.hpp"
#include "agent/peer.hpp"
#include "core/log.hpp"

namespace guestkit::agent {
namespace {

namespace asio = boost::asio;
class Session : public std::enable_shared_from_this<Session>, Conversation::Transport {
 public:
  Session(asio::io_context& io, AgentState& state, const SecretBytes* key,
          asio::generic::stream_protocol::socket socket, std::string peer)
      : state_(state),
        socket_(std::move(socket)),
        read_timer_(io),
        session_timer_(io),
        reader_(state.ctx.config.agent.max_message),
        conversation_(state, key, std::move(peer), *this) {}

  core::Status start() {
    auto greeting = conversation_.greeting();
    if (!greeting) return std::move(greeting).error();
    session_timer_.expires_after(state_.ctx.config.agent.session_timeout);
    session_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      core::log_warning("session with ", self->conversation_.peer(),
                        " lasted longer than agent.session_timeout, closing");
      self->abort("timeout", "session too long");
    });
    send(greeting->dump());
    // The greeting is on the wire now (Asio writes at once when nothing is queued).
    // The channel keys, and libcrypto with them, come after it, while the peer derives
    // its own and seals its first request (agent/libcrypto.hpp).
    if (conversation_.keyed())
      asio::post(socket_.get_executor(),
                 [self = shared_from_this()] { self->conversation_.derive_channel(); });
    arm_read_timer();
    read();
    return {};
  }

 private:
  void arm_read_timer() {
    read_timer_.expires_after(state_.ctx.config.agent.read_timeout);
    read_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      core::log_warning("no complete message from ", self->conversation_.peer(),
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
              core::log_debug("read from ", self->conversation_.peer(), ": ", ec.message());
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
        core::log_warning("message from ", conversation_.peer(),
                          " longer than agent.max_message (", state_.ctx.config.agent.max_message,
                          " bytes), closing");
        finish_with(clear_error(
            "too_long", "message longer than " +
                            std::to_string(state_.ctx.config.agent.max_message) + " bytes"));
        return;
      }
      arm_read_timer();  // a complete message: the next one gets a fresh deadline
      if (status == LineReader::Status::bad_encoding) {
        conversation_.bad_encoding();
      } else {
        conversation_.handle(line);
      }
      ::explicit_bzero(line.data(), line.size());
    }
    if (!closing_) read();
  }

  void send(std::string line) override {
    outbox_.push_back(std::move(line) + "\n");
    if (!writing_) write_next();
  }

  void finish_with(std::string line) override {
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
  asio::generic::stream_protocol::socket socket_;
  asio::steady_timer read_timer_;
  asio::steady_timer session_timer_;
  LineReader reader_;
  Conversation conversation_;
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
  auto session = std::make_shared<Session>(io, state, key, std::move(socket), peer.text);
  if (auto ok = session->start(); !ok) {
    core::log_error("cannot start the session: ", ok.error().message());
    return 2;
  }
  session.reset();
  io.run();
  return 0;
}

}  // namespace guestkit::agent
