// guestkit-agent --listen serial:PATH on a pseudo-terminal standing in for a
// virtio-serial port, driven by the real client library (and guestkit-ctl's resync).
//
// Why a pty: the agent accepts only a character device (it checks the descriptor it
// opened), which rules out a socketpair or a FIFO, and a pty is a bidirectional
// character device whose hang-up looks to the agent like a virtio port's when the host
// side is closed: once the master (the host's end) is closed, poll(2) on the slave
// reports POLLHUP whatever is asked and read(2) returns at once with nothing, forever,
// which is what makes a naive loop spin on a virtio port. What a pty cannot do is come
// back: a closed master is gone, where a host reopens a virtio port (the agent then
// gets SIGIO); the e2e tier (scenario `serial`) covers that part on a real port.
// Without virtio-serial's "host closed" while the master is open, sessions here end
// by the protocol (a resync, an end line, an error), which is also the only way they
// end on a plain serial line.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/client.hpp"
#include "agent/resync.hpp"
#include "agent/state.hpp"
#include "core/fd.hpp"
#include "tests/integration/agent_fixture.hpp"

namespace ga = guestkit::agent;
namespace gc = guestkit::core;
namespace gt = guestkit::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// A pty whose slave is served by a guestkit-agent --listen serial:SLAVE.
class SerialLab {
 public:
  SerialLab(const gt::AgentLab& lab, const std::string& agent_yml) {
    master_ = gc::UniqueFd(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(master_);
    REQUIRE(::grantpt(master_.get()) == 0);
    REQUIRE(::unlockpt(master_.get()) == 0);
    slave_ = ::ptsname(master_.get());
    const auto conf = lab.tmp().write("serial.yml", "agent:\n" + agent_yml);
    log_ = (lab.tmp().path() / "serial.log").string();
    const auto agent = gt::built_binary("agent", "guestkit-agent");
    pid_ = gt::fork_child();
    if (pid_ == 0) {
      const int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::setsid();  // no controlling terminal: the pty must not become one
      ::execl(agent.c_str(), "guestkit-agent", "--root", lab.root().c_str(), "--config",
              conf.c_str(), "--log-file", log_.c_str(), "--debug", "--listen",
              ("serial:" + slave_).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && log().find("serving sessions on") == std::string::npos; ++i)
      std::this_thread::sleep_for(10ms);
    INFO(log());
    REQUIRE(log().find("serving sessions on serial line " + slave_) != std::string::npos);
  }
  ~SerialLab() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

  std::string log() const { return gt::read_host(log_); }
  bool agent_alive() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  // The host's end, for one client (the master itself stays open: closing it would
  // hang the line up for good).
  gc::UniqueFd host_end() const { return gc::UniqueFd(::fcntl(master_.get(), F_DUPFD_CLOEXEC, 0)); }
  void write_raw(const std::string& bytes) const {
    REQUIRE(::write(master_.get(), bytes.data(), bytes.size()) ==
            static_cast<ssize_t>(bytes.size()));
  }
  // Everything the agent wrote within `wait`.
  std::string read_for(std::chrono::milliseconds wait) const {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{master_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(master_.get(), buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  void hang_up() { master_.reset(); }

  // The agent's CPU time (user + system, in clock ticks) used during `span`.
  long cpu_ticks_during(std::chrono::milliseconds span) const {
    const long before = cpu_ticks();
    std::this_thread::sleep_for(span);
    return cpu_ticks() - before;
  }

 private:
  long cpu_ticks() const {
    // /proc/PID/stat: "pid (comm) state ..." with utime and stime the 14th and 15th
    // fields; comm may hold blanks, so count from the last ')'.
    const std::string stat = gt::read_host("/proc/" + std::to_string(pid_) + "/stat");
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stol(field);
      if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
  }

  gc::UniqueFd master_;
  std::string slave_;
  std::string log_;
  pid_t pid_ = -1;
};

ga::SecretBytes key_of(const std::string& hex) {
  auto key = ga::parse_key_text(hex);
  REQUIRE(key);
  return std::move(*key);
}

ga::SecretBytes lab_key(const gt::AgentLab& lab) {
  return key_of(lab.tmp().read("ctl.key"));
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "agent serial: sessions one after another on one port, stale bytes, replay, wrong key, "
    "idle and hung-up CPU",
    "[agent-serial]") {
  gt::AgentLab lab;  // the root, the key, the tools; its xinetd stays idle
  SerialLab port(lab, "  read_timeout: 30s\n  allow_from: [serial]\n");
  const auto key = lab_key(lab);

  // Nobody talks: the agent waits in the kernel.
  CHECK(port.cpu_ticks_during(2s) <= 3);

  // A host that died mid-line, then garbage: all of it is discarded up to the resync.
  port.write_raw("{\"nonce\": \"00112233445566778899aabb\", \"box\": \"QUJD");
  port.write_raw(std::string("\x01\x02 not json at all \xfe\n", 21));

  std::string first_challenge;
  std::string captured;  // a sealed request of session 1, replayed in session 2
  {
    auto client = ga::Client::over(port.host_end(), /*serial=*/true, &key, 10s);
    INFO(port.log());
    REQUIRE(client);
    CHECK(client->greeting()["instance_id"] == lab.instance_id());
    CHECK(client->greeting()["sync"].is_string());
    first_challenge = client->greeting()["challenge"].get<std::string>();
    auto status = client->call("status", json::object());
    REQUIRE(status);
    INFO(status->dump());
    CHECK((*status)["ok"] == true);
    auto sealed = client->seal_request({{"id", 9},
                                        {"op", "set-hostname"},
                                        {"instance_id", lab.instance_id()},
                                        {"args", {{"hostname", "replayed"}}}});
    REQUIRE(sealed);
    captured = *sealed;
  }  // the client ends its session (0xFF \n)

  SECTION("a second session: fresh challenge, sealed orders carried out") {
    auto client = ga::Client::over(port.host_end(), true, &key, 10s);
    REQUIRE(client);
    CHECK(client->greeting()["challenge"].get<std::string>() != first_challenge);
    auto answer = client->call("set-hostname", {{"hostname", "serial-one"}});
    REQUIRE(answer);
    INFO(answer->dump() << port.log());
    CHECK((*answer)["ok"] == true);
    CHECK(lab.root_file("/etc/hostname") == "serial-one\n");
    const auto log = port.log();
    CHECK(count(log, "began (resync ") == 2);
    CHECK(log.find("#1 ended: the host resynchronised") != std::string::npos);
    CHECK(log.find("bytes outside a session discarded") != std::string::npos);
    CHECK(log.find("not a JSON object") == std::string::npos);  // the garbage never counted
  }

  SECTION("a request sealed for another session does not open, and ends this one") {
    auto client = ga::Client::over(port.host_end(), true, &key, 10s);
    REQUIRE(client);
    REQUIRE(client->send_line(captured));
    auto line = client->read_line();
    REQUIRE(line);
    CHECK(json::parse(*line)["error"]["code"] == "auth");
    // Ended: a clear info now gets no answer (discarded up to the next resync)...
    REQUIRE(client->send_line("{\"id\": 1, \"op\": \"info\"}"));
    CHECK(port.read_for(1500ms).empty());
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
    // ...and the next resync starts afresh.
    auto again = ga::Client::over(port.host_end(), true, &key, 10s);
    REQUIRE(again);
    auto info = again->call("info", json::object());
    REQUIRE(info);
    CHECK((*info)["ok"] == true);
  }

  SECTION("a wrong key is refused and changes nothing") {
    const auto wrong = key_of(std::string(64, '7'));
    auto client = ga::Client::over(port.host_end(), true, &wrong, 10s);
    REQUIRE(client);  // the greeting is clear
    auto answer = client->call("set-hostname", {{"hostname", "intruder"}});
    REQUIRE(answer);
    CHECK((*answer)["ok"] == false);
    CHECK((*answer)["error"]["code"] == "auth");
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
    CHECK(port.log().find("does not authenticate") != std::string::npos);
  }

  SECTION("a host that left answers unread and a session half done: the next one skips them") {
    // Session A: a resync and a request whose answer nobody reads, then half a line.
    port.write_raw(ga::resync_start("abandoned"));
    port.write_raw("{\"id\": 1, \"op\": \"info\"}\n{\"id\": 2, \"op\"");
    std::this_thread::sleep_for(300ms);  // A's greeting and answer are now in the line
    auto client = ga::Client::over(port.host_end(), true, &key, 10s);
    REQUIRE(client);
    CHECK(client->greeting()["sync"] != "abandoned");
    auto answer = client->call("ssh-keys", {{"user", "root"}, {"list", true}});
    REQUIRE(answer);
    INFO(answer->dump());
    CHECK((*answer)["ok"] == true);
    CHECK((*answer)["result"].contains("keys"));  // its own answer, not A's stale one
    CHECK(port.log().find("#2 ended: the host resynchronised") != std::string::npos);
  }

  SECTION("guestkit-ctl --connect serial:SOCKET through a unix socket, as QEMU's chardev") {
    // The host side of a virtio-serial port is a unix socket (QEMU's -chardev socket,
    // server=on); here a relay between that socket and the pty's master plays QEMU.
    const auto sock = lab.tmp().path() / "port.sock";
    gc::UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strncpy(un.sun_path, sock.c_str(), sizeof un.sun_path - 1);
    REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
    REQUIRE(::listen(listener.get(), 4) == 0);
    auto relay_end = port.host_end();
    std::atomic<bool> stop{false};
    std::thread relay([&] {
      while (!stop) {
        pollfd p{listener.get(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        gc::UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!conn) continue;
        pollfd fds[2] = {{conn.get(), POLLIN, 0}, {relay_end.get(), POLLIN, 0}};
        while (!stop) {
          if (::poll(fds, 2, 50) <= 0) continue;
          char buf[4096];
          if (fds[0].revents) {
            const ssize_t n = ::read(conn.get(), buf, sizeof buf);
            if (n <= 0) break;  // the host closed: QEMU drops the connection
            (void)!::write(relay_end.get(), buf, static_cast<std::size_t>(n));
          }
          if (fds[1].revents & POLLIN) {
            const ssize_t n = ::read(relay_end.get(), buf, sizeof buf);
            if (n > 0) (void)!::write(conn.get(), buf, static_cast<std::size_t>(n));
          }
        }
      }
    });
    struct Join {
      std::atomic<bool>& stop;
      std::thread& t;
      ~Join() {
        stop = true;
        t.join();
      }
    } join{stop, relay};
    for (int round = 1; round <= 2; ++round) {
      const auto res =
          lab.ctl({"--connect", "serial:" + sock.string(), "--timeout", "20s", "--json", "status"});
      INFO(res.out << res.err << port.log());
      REQUIRE(res.exit_code == 0);
      CHECK(json::parse(res.out)["ok"] == true);
    }
    const auto res = lab.ctl({"--connect", "serial:" + sock.string(), "set-hostname", "by-ctl"});
    INFO(res.out << res.err);
    CHECK(res.exit_code == 0);
    CHECK(lab.root_file("/etc/hostname") == "by-ctl\n");
  }

  // Every section ends here: the host side goes away for good. The agent notices,
  // stays, and costs nothing while it waits (a loop on POLLHUP would burn a CPU).
  port.hang_up();
  std::this_thread::sleep_for(300ms);
  const long ticks = port.cpu_ticks_during(3s);
  INFO(port.log());
  CHECK(ticks <= 3);
  CHECK(port.agent_alive());
  CHECK(port.log().find("the host side is closed") != std::string::npos);
}

TEST_CASE("agent serial: a port whose class allow_from leaves out gets no greeting",
          "[agent-serial]") {
  gt::AgentLab lab;
  // A pty is a "serial" line, not a "virtio" port.
  SerialLab port(lab, "  allow_from: [virtio, unix]\n");
  const auto key = lab_key(lab);
  auto client = ga::Client::over(port.host_end(), true, &key, 2500ms);
  REQUIRE_FALSE(client);
  CHECK(client.error().code == gc::Errc::timed_out);
  const auto log = port.log();
  INFO(log);
  CHECK(log.find("is not in agent.allow_from (serial)") != std::string::npos);
  CHECK(log.find("refused: not in agent.allow_from") != std::string::npos);
  CHECK(log.find("began (resync") == std::string::npos);
}

TEST_CASE("agent serial: only a character device is served", "[agent-serial]") {
  gt::AgentLab lab;
  const auto conf = lab.tmp().write("plain.yml", "agent:\n  read_timeout: 5s\n");
  const auto file = lab.tmp().write("not-a-port", "");
  const auto res =
      gc::run({gt::built_binary("agent", "guestkit-agent").string(), "--root", lab.root().string(),
               "--config", conf.string(), "--log-stderr", "--listen", "serial:" + file.string()});
  REQUIRE(res);
  CHECK(res->exit_code == 2);
  CHECK(res->err.find("not a character device") != std::string::npos);
}
