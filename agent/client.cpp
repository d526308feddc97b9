#include "agent/client.hpp"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "agent/resync.hpp"

namespace guestkit::agent {
namespace {

constexpr std::size_t kMaxResponse = 16u << 20;

core::Error usage(const std::string& spec) {
  return core::make_error(core::Errc::bad_input,
                          "'" + spec +
                              "': want tcp:HOST:PORT, unix:PATH, vsock:CID:PORT or serial:PATH");
}

core::Status wait_for(int fd, short events, std::chrono::milliseconds timeout, const char* what) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error(what);
    if (n == 0)
      return core::make_error(core::Errc::timed_out, std::string(what) + ": no answer in time");
    return {};
  }
}

}  // namespace

core::Result<core::UniqueFd> connect_to(const std::string& spec,
                                        std::chrono::milliseconds timeout) {
  if (spec.starts_with("unix:") || spec.starts_with("serial:")) {
    sockaddr_un un{};
    const std::string path = spec.substr(spec.find(':') + 1);
    if (path.empty() || path.size() >= sizeof un.sun_path) return usage(spec);
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.c_str(), path.size() + 1);
    core::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) != 0)
      return core::errno_error("connect " + spec);
    return fd;
  }
  if (spec.starts_with("vsock:")) {
    const std::string rest = spec.substr(6);
    const auto colon = rest.find(':');
    unsigned cid = 0, port = 0;
    if (colon == std::string::npos ||
        std::from_chars(rest.data(), rest.data() + colon, cid).ec != std::errc() ||
        std::from_chars(rest.data() + colon + 1, rest.data() + rest.size(), port).ec != std::errc())
      return usage(spec);
    sockaddr_vm vm{};
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = cid;
    vm.svm_port = port;
    core::UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&vm), sizeof vm) != 0)
      return core::errno_error("connect " + spec);
    return fd;
  }
  if (!spec.starts_with("tcp:")) return usage(spec);
  const std::string rest = spec.substr(4);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return usage(spec);
  std::string host = rest.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port = rest.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return core::make_error(core::Errc::failed, "resolve " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
  core::Error last = core::make_error(core::Errc::failed, "connect " + spec);
  for (auto* ai = found; ai; ai = ai->ai_next) {
    core::UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = core::errno_error("connect " + spec);
      continue;
    }
    if (auto ok = wait_for(fd.get(), POLLOUT, timeout, "connect"); !ok) {
      last = std::move(ok).error();
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last = core::errno_error("connect " + spec, err);
      continue;
    }
    return fd;
  }
  return last;
}

Client::Client(core::UniqueFd fd, std::chrono::milliseconds timeout)
    : fd_(std::move(fd)), timeout_(timeout) {
  struct stat st {};
  socket_ = ::fstat(fd_.get(), &st) == 0 && S_ISSOCK(st.st_mode);
}

Client::~Client() {
  if (serial_ && fd_) {
    const std::string end = resync_end();
    [[maybe_unused]] const bool sent = send_raw(end).ok();
  }
}

core::Result<Client> Client::open(const std::string& spec, const SecretBytes* key,
                                  std::chrono::milliseconds timeout) {
  auto fd = connect_to(spec, timeout);
  if (!fd) return std::move(fd).error();
  auto client = over(std::move(*fd), spec.starts_with("serial:"), key, timeout);
  if (!client && client.error().code == core::Errc::timed_out && spec.starts_with("serial:"))
    return core::make_error(core::Errc::timed_out,
                            client.error().context +
                                " (is guestkit-agent serving the guest's end of the port?)");
  return client;
}

core::Result<Client> Client::over(core::UniqueFd fd, bool serial, const SecretBytes* key,
                                  std::chrono::milliseconds timeout) {
  Client client(std::move(fd), timeout);
  client.serial_ = serial;
  auto line = serial ? client.resync() : client.read_line();
  if (!line) return std::move(line).error();
  client.greeting_ = nlohmann::json::parse(*line, nullptr, false);
  const auto& g = client.greeting_;
  if (!g.is_object() || !g.contains("guestkit_agent") || !g.contains("challenge") ||
      !g["challenge"].is_string())
    return core::make_error(core::Errc::bad_input, "the peer did not greet like a guestkit agent");
  if (key) {
    auto challenge = core::hex_decode(g["challenge"].get<std::string>());
    if (!challenge || challenge->size() != kChallengeSize)
      return core::make_error(core::Errc::bad_input,
                              "the agent's challenge is not 32 bytes of hex");
    auto channel = Channel::create(Channel::Role::client, *key, *challenge);
    if (!channel) return std::move(channel).error();
    client.channel_.emplace(std::move(*channel));
  }
  return client;
}

// Sends a resync and returns the greeting that answers it. Everything before it is
// stale: answers of a session another (crashed) client left, greetings of an earlier
// resync. Only the latest token counts: the agent starts a session at each resync.
core::Result<std::string> Client::resync() {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout_;
  auto interval = std::chrono::milliseconds(1000);
  std::string token;
  auto next_resync = clock::now();
  unsigned sent = 0;
  std::string hunt;     // bytes after the last 0xFF seen
  bool marked = false;  // hunt follows a 0xFF
  for (;;) {
    const auto now = clock::now();
    if (now >= next_resync) {
      auto random = random_bytes(8);
      if (!random) return std::move(random).error();
      token = core::hex_encode(*random);
      if (auto ok = send_raw(resync_start(token)); !ok) return std::move(ok).error();
      ++sent;
      next_resync = now + interval;
      interval = std::min(interval * 2, std::chrono::milliseconds(8000));
    }
    if (now >= deadline)
      return core::make_error(core::Errc::timed_out,
                              "no greeting in answer to " + std::to_string(sent) + " resync" +
                                  (sent == 1 ? "" : "s"));
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min(deadline, next_resync) - now);
    pollfd p{fd_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<long>(wait.count(), 1)));
    if (n < 0 && errno != EINTR) return core::errno_error("read");
    if (n <= 0) continue;
    char buf[16384];
    auto got = receive(buf, sizeof buf);
    if (!got) return std::move(got).error();
    if (*got == 0) return core::make_error(core::Errc::failed, "the peer closed the connection");
    hunt.append(buf, *got);
    for (;;) {
      if (!marked) {
        const auto mark = hunt.find(kResyncByte);
        if (mark == std::string::npos) {
          hunt.clear();
          break;
        }
        hunt.erase(0, mark + 1);
        marked = true;
      }
      const auto again = hunt.find(kResyncByte);
      const auto nl = hunt.find('\n');
      if (again != std::string::npos && (nl == std::string::npos || again < nl)) {
        hunt.erase(0, again);
        marked = false;
        continue;
      }
      if (nl == std::string::npos) {
        if (hunt.size() > kMaxResponse) {
          hunt.clear();
          marked = false;
        }
        break;
      }
      std::string line = hunt.substr(0, nl);
      hunt.erase(0, nl + 1);
      marked = false;
      const auto greeting = nlohmann::json::parse(line, nullptr, false);
      if (greeting.is_object() && greeting.contains("sync") && greeting["sync"] == token) {
        pending_ = std::move(hunt);
        return line;
      }
    }
  }
}

core::Status Client::send_raw(std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        socket_ ? ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL)
                : ::write(fd_.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (auto ok = wait_for(fd_.get(), POLLOUT, timeout_, "send"); !ok) return ok;
        continue;
      }
      return core::errno_error("send");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

core::Result<std::size_t> Client::receive(char* buf, std::size_t size) {
  for (;;) {
    const ssize_t n = socket_ ? ::recv(fd_.get(), buf, size, 0) : ::read(fd_.get(), buf, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error("read");
    return static_cast<std::size_t>(n);
  }
}

std::string Client::instance_id() const {
  return greeting_.contains("instance_id") && greeting_["instance_id"].is_string()
             ? greeting_["instance_id"].get<std::string>()
             : "";
}

core::Status Client::send_line(const std::string& line) { return send_raw(line + "\n"); }

core::Result<std::string> Client::read_line() {
  for (;;) {
    if (const auto nl = pending_.find('\n'); nl != std::string::npos) {
      std::string line = pending_.substr(0, nl);
      pending_.erase(0, nl + 1);
      return line;
    }
    if (serial_ && pending_.find(kResyncByte) != std::string::npos)
      return core::make_error(core::Errc::failed, "the agent started another session");
    if (pending_.size() > kMaxResponse)
      return core::make_error(core::Errc::bad_input, "response too long");
    if (auto ok = wait_for(fd_.get(), POLLIN, timeout_, "read"); !ok) return std::move(ok).error();
    char buf[16384];
    auto n = receive(buf, sizeof buf);
    if (!n) return std::move(n).error();
    if (*n == 0) return core::make_error(core::Errc::failed, "the agent closed the connection");
    pending_.append(buf, *n);
  }
}

core::Result<std::string> Client::seal_request(const nlohmann::json& request) {
  if (!channel_) return request.dump();
  return channel_->seal(request.dump());
}

core::Result<nlohmann::json> Client::open_response(const std::string& line) {
  auto message = nlohmann::json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object())
    return core::make_error(core::Errc::bad_input, "the agent's answer is not a JSON object");
  if (!channel_ || !is_envelope(message))
    return message;  // clear: greeting-time errors, auth errors
  auto plain = channel_->open(message);
  if (!plain)
    return core::make_error(core::Errc::bad_input,
                            "the agent's answer does not authenticate: " + plain.error().context);
  const auto& bytes = plain->bytes();
  auto body = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return core::make_error(core::Errc::bad_input,
                            "the agent's sealed answer is not a JSON object");
  return body;
}

core::Result<nlohmann::json> Client::call(const std::string& op, const nlohmann::json& args) {
  const long id = next_id_++;
  nlohmann::json request{{"id", id}, {"op", op}, {"instance_id", instance_id()}, {"args", args}};
  auto line = seal_request(request);
  wipe_json(request);
  if (!line) return std::move(line).error();
  if (auto ok = send_line(*line); !ok) return std::move(ok).error();
  auto answer = read_line();
  if (!answer) return std::move(answer).error();
  auto body = open_response(*answer);
  if (!body) return body;
  if (body->contains("id") && !(*body)["id"].is_null() && (*body)["id"] != id)
    return core::make_error(core::Errc::bad_input, "the agent answered another request");
  return body;
}

}  // namespace guestkit::agent
