// --listen: the agent's own accept loop for images without inetd. One forked agent
// per connection, exactly as inetd would run it.

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "agent/agent.hpp"
#include "agent/session.hpp"
#include "core/log.hpp"

namespace guestkit::agent {
namespace {

bool parse_port(std::string_view text, unsigned& port, unsigned max = 65535) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && port <= max;
}

// A bound, listening socket for SPEC, or -1 (logged).
int open_listener(const std::string& spec) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_UNSPEC;
  if (spec.starts_with("tcp:")) {
    const std::string rest = spec.substr(4);
    const auto colon = rest.rfind(':');
    unsigned port = 0;
    std::string host = colon == std::string::npos ? "" : rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    if (colon == std::string::npos || !parse_port(std::string_view(rest).substr(colon + 1), port)) {
      core::log_error("--listen ", spec, ": want tcp:ADDR:PORT");
      return -1;
    }
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
      family = in->sin_family = AF_INET;
      in->sin_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof *in;
    } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
      family = in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof *in6;
    } else {
      core::log_error("--listen ", spec, ": '", host, "' is not an IP address");
      return -1;
    }
  } else if (spec.starts_with("unix:")) {
    auto* un = reinterpret_cast<sockaddr_un*>(&ss);
    const std::string path = spec.substr(5);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
      core::log_error("--listen ", spec, ": bad socket path");
      return -1;
    }
    family = un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    len = sizeof *un;
    ::unlink(path.c_str());  // a stale socket from a previous run
  } else if (spec.starts_with("vsock:")) {
    auto* vm = reinterpret_cast<sockaddr_vm*>(&ss);
    unsigned port = 0;
    if (!parse_port(std::string_view(spec).substr(6), port, 0xffffffffu)) {
      core::log_error("--listen ", spec, ": want vsock:PORT");
      return -1;
    }
    family = vm->svm_family = AF_VSOCK;
    vm->svm_cid = VMADDR_CID_ANY;
    vm->svm_port = port;
    len = sizeof *vm;
  } else {
    core::log_error("--listen ", spec, ": want tcp:ADDR:PORT, unix:PATH, vsock:PORT or serial:PATH");
    return -1;
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0 && family != AF_UNIX && family != AF_VSOCK)
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 16) != 0) {
    core::log_error("--listen ", spec, ": ", std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int listen_and_serve(AgentState& state, const SecretBytes* key, const std::string& spec) {
  const int listener = open_listener(spec);
  if (listener < 0) return 2;
  ::signal(SIGCHLD, SIG_IGN);  // children are reaped by the kernel
  core::log_info("listening on ", spec);
  for (;;) {
    const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      core::log_error("accept on ", spec, ": ", std::strerror(errno));
      return 2;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(listener);
      ::signal(SIGCHLD, SIG_DFL);  // the session waits for its own children (chpasswd...)
      ::_exit(run_session(state, conn, key));
    }
    if (pid < 0) core::log_error("fork: ", std::strerror(errno));
    ::close(conn);
  }
}

}  // namespace guestkit::agent
