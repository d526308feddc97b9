// DHCP clients guestkit runs: which, with what arguments, and which process is ours.

#include "plugins/iface/dhcp_client.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "plugins/iface/iface.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace iface = guestkit::plugins::iface;
using guestkit::test::TempDir;
using Argv = std::vector<std::string>;
using namespace std::chrono_literals;

namespace {

// A process in the root's /proc: its command line, and its comm as the kernel gives it
// (the program's file name, at most 15 bytes, and a newline) unless `comm` says.
void fake_process(const TempDir& t, int pid, const Argv& argv, std::string comm = "") {
  std::string cmdline;
  for (const auto& a : argv) cmdline += a + '\0';
  t.write("proc/" + std::to_string(pid) + "/cmdline", cmdline);
  if (comm.empty()) comm = argv.at(0).substr(argv.at(0).rfind('/') + 1).substr(0, 15);
  t.write("proc/" + std::to_string(pid) + "/comm", comm + "\n");
}

}  // namespace

TEST_CASE("dhcp client: dhclient, dhcpcd, udhcpc, the first installed, or the configured one",
          "[dhcp-client]") {
  TempDir t;
  core::IfaceConfig cfg;
  CHECK_FALSE(iface::choose_client(t.root(), cfg));
  t.write("usr/sbin/udhcpc", "#!/bin/sh\n", 0755);
  CHECK(iface::choose_client(t.root(), cfg) == iface::Client::udhcpc);
  t.write("sbin/dhcpcd", "#!/bin/sh\n", 0644);  // not executable: not installed
  CHECK(iface::choose_client(t.root(), cfg) == iface::Client::udhcpc);
  t.write("sbin/dhclient", "#!/bin/sh\n", 0755);
  CHECK(iface::choose_client(t.root(), cfg) == iface::Client::dhclient);
  cfg.dhcp_client = "udhcpc";
  CHECK(iface::choose_client(t.root(), cfg) == iface::Client::udhcpc);
  cfg.dhcp_client = "dhcpcd";
  CHECK_FALSE(iface::choose_client(t.root(), cfg));
}

TEST_CASE("dhcp client: command lines, detached and in the foreground", "[dhcp-client]") {
  const std::string pid = "/run/guestkit/iface/eth1.pid", lease = "/run/guestkit/iface/eth1.leases";
  auto c = iface::client_command(iface::Client::dhclient, "eth1", pid, lease, 1027, false, 30s);
  CHECK(c.argv ==
        Argv{"dhclient", "-4", "-nw", "-pf", pid, "-lf", lease, "-e", "IF_METRIC=1027", "eth1"});
  c = iface::client_command(iface::Client::dhclient, "eth1", pid, lease, 1027, true, 30s);
  CHECK(c.argv ==
        Argv{"dhclient", "-4", "-d", "-pf", pid, "-lf", lease, "-e", "IF_METRIC=1027", "eth1"});
  c = iface::client_command(iface::Client::dhcpcd, "eth1", pid, lease, 1027, false, 30s);
  CHECK(c.argv == Argv{"dhcpcd", "-4", "-b", "-m", "1027", "eth1"});
  c = iface::client_command(iface::Client::dhcpcd, "eth1", pid, lease, 1027, true, 30s);
  CHECK(c.argv == Argv{"dhcpcd", "-4", "-B", "-m", "1027", "eth1"});
  // udhcpc detaches only after its tries: they fill the budget, and run's guard more.
  c = iface::client_command(iface::Client::udhcpc, "eth1", pid, lease, 1027, false, 30s);
  CHECK(c.argv == Argv{"udhcpc", "-i", "eth1", "-p", pid, "-b", "-t", "10", "-T", "3"});
  CHECK(c.timeout == 35s);
  c = iface::client_command(iface::Client::udhcpc, "eth1", pid, lease, 1027, true, 30s);
  CHECK(c.argv == Argv{"udhcpc", "-i", "eth1", "-p", pid, "-f"});
}

TEST_CASE("dhcp client: the clients on an interface, and which one is ours", "[dhcp-client]") {
  TempDir t;
  fake_process(t, 100, {"dhclient", "-4", "-nw", "-pf", "/run/guestkit/iface/eth1.pid", "eth1"});
  fake_process(t, 101, {"/usr/sbin/udhcpc", "-ieth1", "-f"});
  fake_process(t, 102, {"sshd", "eth1"});
  fake_process(t, 103, {"dhclient", "eth10"});
  fake_process(t, 104, {"/sbin/dhcpcd", "-4", "-b", "eth2"});
  // Named like a client in its command line only, or in its comm only: neither is one.
  fake_process(t, 105, {"dhclient", "eth1"}, "sshd");
  fake_process(t, 106, {"sshd", "eth1"}, "dhclient");
  // A command line over the scan's 64 KiB cap is not read at all, never cut short (cut
  // after "eth1", this one's "eth10" would read as eth1).
  fake_process(t, 109, {"dhclient", std::string((1 << 16) - 14, 'x'), "eth10"});
  // Gone while the scan ran: a directory without its files.
  std::filesystem::create_directories(t.path() / "proc/107");
  t.write("proc/self/cmdline", std::string("x\0", 2));
  const auto root = t.root();
  CHECK(*iface::clients_on(root, "eth1") == std::vector<pid_t>{100, 101});
  CHECK(*iface::clients_on(root, "eth2") == std::vector<pid_t>{104});
  CHECK(iface::clients_on(root, "eth3")->empty());
  // A planted symlink for a process directory is not followed.
  std::filesystem::create_directory_symlink("100", t.path() / "proc/108");
  CHECK(*iface::clients_on(root, "eth1") == std::vector<pid_t>{100, 101});

  CHECK_FALSE(*iface::our_client(root, "eth1"));  // no pid file
  t.write("run/guestkit/iface/eth1.pid", "100\n");
  CHECK(*iface::our_client(root, "eth1") == 100);
  t.write("run/guestkit/iface/eth1.pid", "102\n");  // the pid was recycled by sshd
  CHECK_FALSE(*iface::our_client(root, "eth1"));
  t.write("run/guestkit/iface/eth1.pid", "103\n");  // a client, but not on eth1
  CHECK_FALSE(*iface::our_client(root, "eth1"));
  t.write("run/guestkit/iface/eth1.pid", "999\n");  // gone
  CHECK_FALSE(*iface::our_client(root, "eth1"));
  for (const char* junk : {"", "1\n", "-5", "100x", "abc"}) {
    INFO(junk);
    t.write("run/guestkit/iface/eth1.pid", junk);
    CHECK_FALSE(*iface::our_client(root, "eth1"));
  }
}

TEST_CASE("dhcp client: a detaching udhcpc never waits longer than its budget", "[dhcp-client]") {
  // The budget is what is left of iface.dhcp_timeout: udhcpc's own tries times pause
  // must fit in it, or the step's one deadline does not hold.
  const std::string pid = "/run/guestkit/iface/eth1.pid", lease = "/run/guestkit/iface/eth1.leases";
  for (long ms : {500L, 1000L, 1999L, 2000L, 3000L, 3003L, 4000L, 5000L, 10000L, 11999L, 30000L,
                  59000L, 60000L, 125000L}) {
    INFO("budget " << ms << " ms");
    auto c = iface::client_command(iface::Client::udhcpc, "eth1", pid, lease, 1027, false,
                                   std::chrono::milliseconds(ms));
    REQUIRE(c.argv.size() == 10);
    REQUIRE(c.argv[6] == "-t");
    REQUIRE(c.argv[8] == "-T");
    const long tries = std::stol(c.argv[7]), pause = std::stol(c.argv[9]);
    CHECK(tries >= 1);
    CHECK(pause >= 1);
    CHECK(pause <= 3);  // a DISCOVER at least every 3 s while it waits
    // At least one try of one second; otherwise within the budget, and no more than a
    // pause short of it.
    const long budget_s = std::max(1L, ms / 1000);
    CHECK(tries * pause <= budget_s);
    CHECK(tries * pause > budget_s - pause);
    CHECK(c.timeout <= std::chrono::seconds(budget_s + 5));
  }
}
