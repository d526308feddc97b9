// --listen serial:PATH: one session after another on a virtio-serial port (or any
// serial line), in one long-lived process. agent/PROTOCOL.md, "Serial transport",
// says how a session starts and ends on a stream without connections (resync.hpp).
//
// A virtio-serial port has no connections but tells whether the host side is open:
// while it is not, poll(2) reports POLLHUP whatever is asked and read(2) returns 0 at
// once, so a loop that waits for readability spins (qemu-guest-agent sleeps 100 ms per
// turn instead). Here, a read that finds the host gone is not retried until the
// kernel says something changed: with O_ASYNC the port raises SIGIO when the host
// opens or closes its side and when data arrives (virtio_console's send_sigio_to_port).
// SIGIO is blocked and read from a signalfd, so it interrupts no system call, and no
// event can be lost between the read that saw the hang-up and the wait. A slow
// re-check (kRecheck) covers a kernel or a line that never raises it.

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>
#include <optional>

#include "agent/agent.hpp"
#include "agent/conversation.hpp"
#include "agent/framing.hpp"
#include "agent/peer.hpp"
#include "agent/resync.hpp"
#include "agent/state.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::agent {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// While the host side is closed: how often the port is tried again without a SIGIO.
constexpr auto kRecheck = 10s;

// "virtio" when the character device behind `st` belongs to the virtio-ports
// subsystem (by its device number, in sysfs), "serial" for anything else.
int peer_class(const core::Root& root, const struct stat& st) {
  const std::string link = std::string(core::paths::kSysDevChar) + "/" +
                           std::to_string(major(st.st_rdev)) + ":" +
                           std::to_string(minor(st.st_rdev)) + "/subsystem";
  auto target = root.read_link(link);
  if (target && (*target == "virtio-ports" || target->ends_with("/virtio-ports")))
    return kPeerVirtio;
  return kPeerSerial;
}

class SerialServer : Conversation::Transport {
 public:
  SerialServer(asio::io_context& io, core::Context& ctx, bool auth_none, int port, int sigio,
               int peer_family, std::string peer)
      : io_(io),
        ctx_(ctx),
        auth_none_(auth_none),
        port_(io, port),
        sigio_(io, sigio),
        read_timer_(io),
        session_timer_(io),
        recheck_timer_(io),
        reader_(ctx.config.agent.max_message),
        peer_family_(peer_family),
        peer_(std::move(peer)) {}

  void start() { read(); }

 private:
  enum class Mode { hunting, sync_line, session };

  // ---- reading ----
  void read() {
    port_.async_read_some(asio::buffer(buffer_),
                          [this](const boost::system::error_code& ec, std::size_t n) {
                            if (ec == asio::error::operation_aborted) return;
                            if (ec) {
                              hung_up(ec);
                              return;
                            }
                            if (hung_up_) {
                              hung_up_ = false;
                              core::log_debug(peer_, ": the host side is open again");
                            }
                            feed(std::string_view(buffer_.data(), n));
                            ::explicit_bzero(buffer_.data(), n);
                            read();
                          });
  }

  // read() found the host side closed (0 bytes: a virtio port; EIO: a pty whose master
  // is gone): the session is over; wait for the kernel to say something changed.
  void hung_up(const boost::system::error_code& ec) {
    if (!hung_up_) {
      core::log_debug(peer_, ": the host side is closed (",
                      ec == asio::error::eof ? "end of file" : ec.message(), ")");
      hung_up_ = true;
    }
    if (mode_ == Mode::session) end_session("the host closed the port");
    mode_ = Mode::hunting;
    sync_.clear();
    // What is queued cannot reach the host, and a host that opens the port later
    // wants nothing of it: a write blocked on the closed side is cancelled.
    if (writing_)
      port_.cancel();
    else
      outbox_.clear();
    wait_for_host();
  }

  void wait_for_host() {
    waiting_ = true;
    sigio_.async_read_some(asio::buffer(siginfo_),
                           [this](const boost::system::error_code& ec, std::size_t) {
                             if (ec == asio::error::operation_aborted || !waiting_) return;
                             if (ec) core::log_debug("signalfd: ", ec.message());
                             host_may_be_back("SIGIO");
                           });
    recheck_timer_.expires_after(kRecheck);
    recheck_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !waiting_) return;
      host_may_be_back("re-check");
    });
  }

  void host_may_be_back(const char* why) {
    waiting_ = false;
    recheck_timer_.cancel();
    sigio_.cancel();
    core::log_debug(peer_, ": trying the port again (", why, ")");
    read();
  }

  // ---- framing: 0xFF, sync lines, session lines ----
  void feed(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto mark = bytes.find(kResyncByte);
      const std::string_view before = bytes.substr(0, mark);
      switch (mode_) {
        case Mode::hunting:
          discarded_ += before.size();
          break;
        case Mode::sync_line:
          take_sync_bytes(before);
          break;
        case Mode::session:
          reader_.feed(before);
          drain();
          break;
      }
      if (mark == std::string_view::npos) return;
      // A resync: whatever came before it is over.
      if (mode_ == Mode::session) end_session("the host resynchronised");
      if (discarded_ > 0)
        core::log_debug(peer_, ": ", discarded_, " bytes outside a session discarded");
      discarded_ = 0;
      mode_ = Mode::sync_line;
      sync_.clear();
      bytes.remove_prefix(mark + 1);
    }
  }

  void take_sync_bytes(std::string_view bytes) {
    while (mode_ == Mode::sync_line && !bytes.empty()) {
      const auto nl = bytes.find('\n');
      sync_.append(bytes.substr(0, nl));
      if (sync_.size() > kMaxSyncLine + 1) {
        core::log_info(peer_, ": a resync line longer than ", kMaxSyncLine,
                       " bytes, ignoring it until the next resync");
        discarded_ += sync_.size();
        sync_.clear();
        mode_ = Mode::hunting;
        return;
      }
      if (nl == std::string_view::npos) return;
      bytes.remove_prefix(nl + 1);
      const SyncLine line = parse_sync_line(sync_);
      sync_.clear();
      mode_ = Mode::hunting;
      if (line.kind == SyncLine::Kind::start) {
        begin_session(line.token);
        // The rest of this chunk belongs to the new session.
        if (mode_ == Mode::session) {
          reader_.feed(bytes);
          drain();
        } else {
          discarded_ += bytes.size();
        }
        return;
      }
      if (line.kind == SyncLine::Kind::invalid)
        core::log_info(peer_, ": not a resync line after 0xFF, ignoring it until the next resync");
      discarded_ += bytes.size();
      return;
    }
  }

  // Every complete line buffered, while the session lasts.
  void drain() {
    std::string line;
    while (mode_ == Mode::session && !ending_) {
      const auto status = reader_.next(line);
      if (status == LineReader::Status::need_more) break;
      if (status == LineReader::Status::too_long) {
        core::log_warning("message from ", peer_, " longer than agent.max_message (",
                          ctx_.config.agent.max_message, " bytes), ending the session");
        finish_with(clear_error(
            "too_long",
            "message longer than " + std::to_string(ctx_.config.agent.max_message) + " bytes"));
        break;
      }
      arm_read_timer();
      if (status == LineReader::Status::bad_encoding) {
        conversation_->bad_encoding();
      } else {
        conversation_->handle(line);
      }
      ::explicit_bzero(line.data(), line.size());
    }
    if (ending_) {
      end_session(ending_reason_);
      mode_ = Mode::hunting;  // what follows, up to the next resync, is discarded
    }
  }

  // ---- sessions ----
  void begin_session(const std::string& token) {
    ++sessions_;
    const std::string who = peer_ + " #" + std::to_string(sessions_);
    if (!peer_allowed(ctx_.config.agent.allow_from, peer_family_, nullptr)) {
      core::log_warning("resync from ", who, " refused: not in agent.allow_from");
      return;
    }
    // Each session reads the instance id and the key again: the process lives as long
    // as the VM, and a seed or an admin may have written them since it started.
    state_.emplace(AgentState{ctx_, read_instance_id(ctx_.root), {}, auth_none_});
    key_.reset();
    if (!auth_none_) {
      key_.emplace(load_agent_key(ctx_.root, ctx_.config.agent));
      if (!key_->usable()) {
        state_->key_problem = key_->problem;
        core::log_warning("no usable agent key (", key_->problem,
                          "): every op but info is refused");
      }
    }
    const SecretBytes* key = key_ && key_->usable() ? &key_->key : nullptr;
    conversation_.emplace(*state_, key, who, static_cast<Conversation::Transport&>(*this));
    auto greeting = conversation_->greeting();
    if (!greeting) {
      core::log_error("cannot start a session: ", greeting.error().message());
      conversation_.reset();
      return;
    }
    (*greeting)["sync"] = token;
    core::log_info("session with ", who, " began (resync ", token, ")");
    mode_ = Mode::session;
    ending_ = false;
    reader_.clear();
    const unsigned generation = sessions_;
    session_timer_.expires_after(ctx_.config.agent.session_timeout);
    session_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
      if (ec || generation != sessions_ || mode_ != Mode::session) return;
      core::log_warning("session with ", conversation_->peer(),
                        " lasted longer than agent.session_timeout, ending it");
      expire("session too long");
    });
    arm_read_timer();
    send(std::string(1, kResyncByte) + greeting->dump());
    if (conversation_->keyed())
      asio::post(io_, [this, generation] {
        if (generation == sessions_ && conversation_) conversation_->derive_channel();
      });
  }

  void arm_read_timer() {
    const unsigned generation = sessions_;
    read_timer_.expires_after(ctx_.config.agent.read_timeout);
    read_timer_.async_wait([this, generation](const boost::system::error_code& ec) {
      if (ec || generation != sessions_ || mode_ != Mode::session) return;
      core::log_warning("no complete message from ", conversation_->peer(),
                        " within agent.read_timeout, ending the session");
      expire("no complete message in time");
    });
  }

  // A deadline: the timeout line, then nothing until the next resync.
  void expire(const std::string& message) {
    send(clear_error("timeout", message));
    end_session("timed out");
    mode_ = Mode::hunting;
  }

  void end_session(const std::string& why) {
    if (conversation_) core::log_info("session with ", conversation_->peer(), " ended: ", why);
    read_timer_.cancel();
    session_timer_.cancel();
    conversation_.reset();
    state_.reset();
    key_.reset();
    reader_.clear();
    ending_ = false;
  }

  // ---- Conversation::Transport ----
  void send(std::string line) override {
    if (hung_up_) return;  // nobody to hear it
    outbox_.push_back(std::move(line) + "\n");
    if (!writing_) write_next();
  }

  // Called from inside the conversation: it ends once handle() has returned (drain).
  void finish_with(std::string line) override {
    send(std::move(line));
    ending_ = true;
    ending_reason_ = "the protocol closed it";
  }

  void write_next() {
    if (outbox_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    asio::async_write(port_, asio::buffer(outbox_.front()),
                      [this](const boost::system::error_code& ec, std::size_t) {
                        if (ec) {
                          // Cancelled at a hang-up, or the port failed: drop it all.
                          if (ec != asio::error::operation_aborted)
                            core::log_debug("write to ", peer_, ": ", ec.message());
                          writing_ = false;
                          outbox_.clear();
                          return;
                        }
                        outbox_.pop_front();
                        write_next();
                      });
  }

  asio::io_context& io_;
  core::Context& ctx_;
  bool auth_none_;
  asio::posix::stream_descriptor port_;
  asio::posix::stream_descriptor sigio_;
  asio::steady_timer read_timer_;
  asio::steady_timer session_timer_;
  asio::steady_timer recheck_timer_;
  LineReader reader_;
  int peer_family_;
  std::string peer_;

  Mode mode_ = Mode::hunting;
  std::string sync_;
  std::size_t discarded_ = 0;
  unsigned sessions_ = 0;
  std::optional<AgentState> state_;
  std::optional<AgentKey> key_;
  std::optional<Conversation> conversation_;
  bool ending_ = false;
  std::string ending_reason_;

  std::array<char, 16384> buffer_{};
  std::array<char, sizeof(signalfd_siginfo)> siginfo_{};
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool hung_up_ = false;
  bool waiting_ = false;
};

}  // namespace

int serve_serial(core::Context& ctx, bool auth_none, const std::string& path) {
  // SIGIO is read from a signalfd, never delivered: blocked before the port can raise
  // it (its default action would end the process). Children get an empty mask
  // (core::run's posix_spawn attributes).
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGIO);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    core::log_error("cannot block SIGIO: ", std::strerror(errno));
    return 2;
  }
  core::UniqueFd sigio(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sigio) {
    core::log_error("signalfd: ", std::strerror(errno));
    return 2;
  }
  // Opened once and checked on the descriptor; /dev/virtio-ports/NAME is udev's symlink
  // to /dev/vportNpM, so the path is followed, but what is used is what was opened.
  core::UniqueFd port(::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!port) {
    core::log_error("--listen serial:", path, ": ", std::strerror(errno));
    return 2;
  }
  struct stat st {};
  if (::fstat(port.get(), &st) != 0 || !S_ISCHR(st.st_mode)) {
    core::log_error("--listen serial:", path, ": not a character device");
    return 2;
  }
  const int family = peer_class(ctx.root, st);
  if (::isatty(port.get())) {
    // A serial line: bytes as they are (no echo, no line editing, 0xFF passed through).
    termios tio{};
    if (::tcgetattr(port.get(), &tio) == 0) {
      ::cfmakeraw(&tio);
      if (::tcsetattr(port.get(), TCSANOW, &tio) != 0)
        core::log_warning("--listen serial:", path,
                          ": cannot set raw mode: ", std::strerror(errno));
    }
  }
  const int flags = ::fcntl(port.get(), F_GETFL);
  if (flags < 0 || ::fcntl(port.get(), F_SETOWN, ::getpid()) != 0 ||
      ::fcntl(port.get(), F_SETFL, flags | O_ASYNC) != 0)
    core::log_warning("--listen serial:", path, ": no SIGIO from the port (", std::strerror(errno),
                      "): a returning host is noticed within ", kRecheck.count(), " s");
  const std::string peer = (family == kPeerVirtio ? "virtio port " : "serial line ") + path;
  if (!peer_allowed(ctx.config.agent.allow_from, family, nullptr))
    core::log_warning(peer, " is not in agent.allow_from (",
                      family == kPeerVirtio ? "virtio" : "serial",
                      "): every resync will be refused");
  core::log_info("serving sessions on ", peer);
  asio::io_context io;
  SerialServer server(io, ctx, auth_none, port.release(), sigio.release(), family, peer);
  server.start();
  io.run();
  return 0;
}

}  // namespace guestkit::agent
