// guestkit-iface against the real kernel and a real DHCP server.
//
// Lab (tests/integration/netlab.hpp): a "far" network namespace runs dnsmasq on the
// far ends of veth pairs; the near ends live in a "near" namespace that also has its
// own mount and UTS namespace, with a tmpfs on /run, a fresh sysfs and a test file
// over /etc/resolv.conf. The real guestkit-iface runs there with root "/" (links,
// DHCP and routes need the live, namespaced kernel) and --config pointing at a test
// config, so everything it writes lands in the namespace's /run or the test's temp
// dir; the host's interfaces, routes and /run are never touched. Addresses: 192.0.2.0/24
// and 198.51.100.0/24 (TEST-NET, "public" by the RFC 1918 rule) and 10.77.0.0/24
// (private), only inside these namespaces.

#include <signal.h>

#include <catch2/catch.hpp>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/netlab.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace fs = std::filesystem;
using guestkit::test::Daemon;
using guestkit::test::eventually;
using guestkit::test::Namespace;
using guestkit::test::TempDir;

namespace {

constexpr const char* kResolv = "# test resolv.conf\n";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// A member of an interface's state file (an undo record: a JSON object); "" when the
// file is no JSON object or lacks it.
std::string state_value(const fs::path& p, const char* key) {
  const auto j = nlohmann::json::parse(slurp(p), nullptr, false);
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::size_t count_lines(const std::string& text) {
  std::size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// The test's temp dir, with the resolv.conf file the near namespace mounts over its
// /etc/resolv.conf: written before the namespaces are made.
struct Files {
  TempDir dir{guestkit::test::trusted_temp_base()};  // holds the hooks
  Files() { dir.write("resolv.conf", kResolv); }
};

struct Lab : Files {
  Namespace far{false};
  Namespace near{true, dir.path() / "resolv.conf"};
  std::vector<std::string> ranges;
  std::vector<std::string> far_ends;
  std::unique_ptr<Daemon> dnsmasq;
  std::string client = "dhclient";
  std::string dhcp_timeout = "20s";
  std::string match = "[gkpub0, gkpriv0, gkoff0]";

  Lab() {
    guestkit::test::need_program("nsenter", "util-linux");
    guestkit::test::need_program("ip", "iproute2");
    guestkit::test::need_program("dnsmasq", "dnsmasq-base");
    dir.write("hooks/post-iface-attach", hook_script("post-iface-attach"), 0755);
    dir.write("hooks/pre-iface-detach", hook_script("pre-iface-detach"), 0755);
  }

  std::string hook_script(const std::string& name) const {
    return "#!/bin/sh\necho \"" + name + " $*\" >> " + (dir.path() / "hooks.log").string() + "\n";
  }

  // A veth pair: `near_name` in the near namespace, its peer (with `far_cidr`, the
  // router and DHCP server address) in the far one; DHCP serves `range` there.
  void link(const std::string& near_name, const std::string& far_name, const std::string& far_cidr,
            const std::string& range) {
    far.must({"ip", "link", "add", far_name, "type", "veth", "peer", "name", near_name, "netns",
              near.netns_path()});
    far.must({"ip", "address", "add", far_cidr, "dev", far_name});
    far.must({"ip", "link", "set", far_name, "up"});
    far_ends.push_back(far_name);
    ranges.push_back(range);
  }

  void serve() {
    std::vector<std::string> argv =
        far.enter({"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
                   "--no-ping", "--user=root", "--pid-file=", "--bind-interfaces",
                   "--dhcp-leasefile=" + (dir.path() / "dnsmasq.leases").string(),
                   // No DNS server option: a client script then has no reason to touch resolv.conf.
                   "--dhcp-option=option:dns-server",
                   "--log-facility=" + (dir.path() / "dnsmasq.log").string(), "--log-dhcp"});
    for (const auto& f : far_ends) argv.push_back("--interface=" + f);
    for (const auto& r : ranges) argv.push_back("--dhcp-range=" + r + ",1h");
    dnsmasq = std::make_unique<Daemon>(argv);
  }

  fs::path config(const std::string& extra = "") const {
    return dir.write("guestkit.yml", "hooks_dir: " + (dir.path() / "hooks").string() +
                                         "\n"
                                         "plugins: {timeout: 20s}\n"
                                         "iface:\n"
                                         "  match: " +
                                         match +
                                         "\n"
                                         "  no_dhcp: [gkoff0]\n"
                                         "  dhcp_client: " +
                                         client +
                                         "\n"
                                         "  dhcp_timeout: " +
                                         dhcp_timeout + "\n" + extra);
  }

  core::ExecResult iface(std::vector<std::string> args,
                         const std::map<std::string, std::string>& env = {}) {
    return iface_with(config(), std::move(args), env);
  }
  // With a config written before: events run in parallel must not rewrite it.
  core::ExecResult iface_with(const fs::path& config_file, std::vector<std::string> args,
                              const std::map<std::string, std::string>& env = {}) const {
    std::vector<std::string> argv{
        guestkit::test::built_binary("hotplug", "guestkit-iface").string(), "--config",
        config_file.string(), "--log-stderr"};
    argv.insert(argv.end(), args.begin(), args.end());
    return near.run(argv, env);
  }

  std::string ipv4(const std::string& dev) const {
    return near.must({"ip", "-4", "-o", "address", "show", "dev", dev});
  }
  std::string default_routes() const { return near.must({"ip", "-4", "route", "show", "default"}); }
  std::string sysctl(const std::string& dev, const std::string& key) const {
    auto out = near.must({"sysctl", "-n", "net.ipv4.conf." + dev + "." + key});
    return out.substr(0, out.find('\n'));
  }
  std::string hooks_log() const { return slurp(dir.path() / "hooks.log"); }
  fs::path state_dir() const { return near.inside("/run/guestkit/iface"); }
  // DHCP clients in the near namespace working on `dev`.
  std::size_t clients_on(const std::string& dev) const {
    std::size_t n = 0;
    for (pid_t p : near.processes()) {
      std::string cmd = slurp("/proc/" + std::to_string(p) + "/cmdline");
      if (cmd.rfind(client, 0) == 0 && cmd.find(std::string(1, '\0') + dev) != std::string::npos)
        ++n;
    }
    return n;
  }
};

// The duration a plugin's log line gives: "20-dhcp-iface: changed (3012.4 ms, CPU 8.0 ms)".
double plugin_ms(const std::string& log, const std::string& plugin) {
  auto at = log.find(plugin + ": ");
  if (at == std::string::npos) return -1;
  auto open = log.find('(', at);
  auto unit = open == std::string::npos ? open : log.find(" ms, CPU ", open);
  if (open == std::string::npos || unit == std::string::npos || unit < open) return -1;
  return std::stod(log.substr(open + 1, unit - open - 1));
}

bool alive(pid_t pid) {
  return ::kill(pid, 0) == 0 && slurp("/proc/" + std::to_string(pid) + "/cmdline") != "";
}

}  // namespace

TEST_CASE(
    "iface: a public NIC gets its lease, the default route and the hooks and remove stops the "
    "client",
    "[iface-net]") {
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  Lab lab;
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.serve();
  const std::string host_resolv = slurp("/etc/resolv.conf");

  // As udev runs it: the event in the environment, no arguments.
  auto add = lab.iface({}, {{"ACTION", "add"},
                            {"SUBSYSTEM", "net"},
                            {"INTERFACE", "gkpub0"},
                            {"DEVPATH", "/devices/virtual/net/gkpub0"},
                            {"SEQNUM", "7"}});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  CHECK(add.err.find("20-dhcp-iface: changed") != std::string::npos);
  CHECK(lab.ipv4("gkpub0").find("inet 192.0.2.") != std::string::npos);
  const std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 192.0.2.1 dev gkpub0 metric 102", 0) == 0);  // 1024 + ifindex
  CHECK(lab.hooks_log() == "post-iface-attach gkpub0\n");

  const fs::path state = lab.state_dir();
  CHECK(state_value(state / "gkpub0.state", "client") == "dhclient");
  const pid_t client = std::stoi(slurp(state / "gkpub0.pid"));
  CHECK(alive(client));
  CHECK(lab.clients_on("gkpub0") == 1);

  // Again (a replayed event, coldplug): nothing new, never a second client.
  auto again = lab.iface({"add", "gkpub0"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("20-dhcp-iface: unchanged") != std::string::npos);
  CHECK(lab.clients_on("gkpub0") == 1);

  auto status = lab.iface({"--status"});
  CHECK(status.exit_code == 0);
  CHECK(status.out.find("gkpub0") != std::string::npos);
  CHECK(status.out.find("dhclient pid " + std::to_string(client)) != std::string::npos);

  auto remove = lab.iface({"remove", "gkpub0"});
  INFO(remove.err);
  CHECK(remove.exit_code == 0);
  CHECK(eventually([&] { return !alive(client); }, std::chrono::seconds(5)));
  CHECK(lab.clients_on("gkpub0") == 0);
  CHECK(lab.hooks_log() == "post-iface-attach gkpub0\npre-iface-detach gkpub0\n");
  for (const char* f : {"gkpub0.state", "gkpub0.pid", "gkpub0.leases"}) {
    INFO(f);
    CHECK_FALSE(fs::exists(state / f));
  }
  // No DNS was offered: the client scripts left resolv.conf alone, ours and the host's.
  CHECK(lab.dir.read("resolv.conf") == kResolv);
  CHECK(slurp("/etc/resolv.conf") == host_resolv);
}

TEST_CASE("iface: a second NIC with a private address does not steal the default route",
          "[iface-net]") {
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  guestkit::test::need_program("sysctl", "procps");
  Lab lab;
  // gkpub0 is the first NIC (lower index), gkpriv0 the second.
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.link("gkpriv0", "gkd1", "10.77.0.1/24", "10.77.0.50,10.77.0.99");
  lab.serve();
  lab.near.must({"sysctl", "-q", "-w", "net.ipv4.conf.gkpriv0.rp_filter=1",
                 "net.ipv4.conf.gkpriv0.arp_filter=1"});

  // The private one comes up first: with no public address anywhere, its route stays.
  auto priv = lab.iface({"add", "gkpriv0"});
  INFO(priv.err);
  REQUIRE(priv.exit_code == 0);
  CHECK(lab.ipv4("gkpriv0").find("inet 10.77.0.") != std::string::npos);
  CHECK(lab.default_routes().find("dev gkpriv0") != std::string::npos);

  auto pub = lab.iface({"add", "gkpub0"});
  INFO(pub.err);
  REQUIRE(pub.exit_code == 0);
  CHECK(lab.ipv4("gkpub0").find("inet 192.0.2.") != std::string::npos);
  std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 192.0.2.1 dev gkpub0 ", 0) == 0);

  // The private NIC's event again (a renewal, a replay): the public route stays alone.
  REQUIRE(lab.iface({"add", "gkpriv0"}).exit_code == 0);
  routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.find("dev gkpub0") != std::string::npos);

  // Secondary-interface sysctls on gkpriv0 only; gkpub0 is the first.
  CHECK(lab.sysctl("gkpriv0", "arp_announce") == "2");
  CHECK(lab.sysctl("gkpriv0", "arp_filter") == "0");
  CHECK(lab.sysctl("gkpriv0", "rp_filter") == "0");
  CHECK(lab.sysctl("gkpub0", "arp_announce") == "0");

  // The public NIC is unplugged: the private one gets its default route back.
  lab.far.must({"ip", "link", "delete", "gkd0"});  // takes its peer gkpub0 along
  auto gone = lab.iface({"remove", "gkpub0"});
  INFO(gone.err);
  CHECK(gone.exit_code == 0);
  CHECK(gone.err.find("gkpriv0: default route via 10.77.0.1 restored") != std::string::npos);
  routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 10.77.0.1 dev gkpriv0 proto dhcp metric 102", 0) == 0);
  CHECK(slurp(lab.state_dir() / "gkpriv0.state").find("REMOVED_GATEWAY") == std::string::npos);
}

TEST_CASE("iface: keep-all leaves every default route alone", "[iface-net]") {
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  Lab lab;
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.link("gkpriv0", "gkd1", "10.77.0.1/24", "10.77.0.50,10.77.0.99");
  lab.serve();
  lab.dir.write("guestkit.yml.d/keep.yml", "iface: {default_route: keep-all}\n");
  REQUIRE(lab.iface({"add", "gkpub0"}).exit_code == 0);
  auto priv = lab.iface({"add", "gkpriv0"});
  INFO(priv.err);
  REQUIRE(priv.exit_code == 0);
  CHECK(priv.err.find("30-route-iface: skipped") != std::string::npos);
  const std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 2);
  // The first NIC's route still wins: its metric is the lower one.
  CHECK(routes.rfind("default via 192.0.2.1 dev gkpub0 ", 0) == 0);
}

TEST_CASE("iface: coldplug brings every NIC up and no_dhcp ones stay unconfigured", "[iface-net]") {
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  Lab lab;
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  // A DHCP server does answer on gkoff0's link: only the config keeps it unconfigured.
  lab.link("gkoff0", "gkd2", "198.51.100.1/24", "198.51.100.50,198.51.100.99");
  lab.serve();

  auto cold = lab.iface({"--coldplug"});
  INFO(cold.err);
  REQUIRE(cold.exit_code == 0);
  CHECK(cold.err.find("gkoff0: left without DHCP (iface.no_dhcp)") != std::string::npos);
  CHECK(lab.ipv4("gkpub0").find("inet 192.0.2.") != std::string::npos);
  CHECK(lab.near.must({"ip", "-o", "link", "show", "dev", "gkoff0"}).find(",UP") !=
        std::string::npos);
  // Given time, still no address and no client on it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(lab.ipv4("gkoff0").empty());
  CHECK(lab.clients_on("gkoff0") == 0);
  CHECK(state_value(lab.state_dir() / "gkoff0.state", "dhcp") == "off");
  CHECK(lab.hooks_log() == "post-iface-attach gkoff0\npost-iface-attach gkpub0\n");

  REQUIRE(lab.iface({"remove", "gkoff0"}).exit_code == 0);
  CHECK_FALSE(fs::exists(lab.state_dir() / "gkoff0.state"));
  REQUIRE(lab.iface({"remove", "gkpub0"}).exit_code == 0);
  CHECK(lab.clients_on("gkpub0") == 0);
}

TEST_CASE("iface: udhcpc as the client, started and stopped the same way", "[iface-net]") {
  guestkit::test::need_program("udhcpc", "udhcpc");
  Lab lab;
  lab.client = "udhcpc";
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.serve();
  const std::string host_resolv = slurp("/etc/resolv.conf");

  auto add = lab.iface({"add", "gkpub0"});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  CHECK(lab.ipv4("gkpub0").find("inet 192.0.2.") != std::string::npos);
  CHECK(lab.default_routes().find("via 192.0.2.1 dev gkpub0") != std::string::npos);
  const pid_t client = std::stoi(slurp(lab.state_dir() / "gkpub0.pid"));
  CHECK(alive(client));
  CHECK(lab.clients_on("gkpub0") == 1);

  REQUIRE(lab.iface({"remove", "gkpub0"}).exit_code == 0);
  CHECK(eventually([&] { return !alive(client); }, std::chrono::seconds(5)));
  CHECK_FALSE(fs::exists(lab.state_dir() / "gkpub0.pid"));
  // udhcpc's Debian script rewrites resolv.conf on every lease: it hit the test's file.
  CHECK(slurp("/etc/resolv.conf") == host_resolv);
}

TEST_CASE("iface: udhcpc without a DHCP server: add waits one dhcp_timeout, not two",
          "[iface-net]") {
  // udhcpc's own wait before it detaches and the wait for the lease after it used to
  // take a whole dhcp_timeout each (3 s configured: the plugin took 6.1 s).
  guestkit::test::need_program("udhcpc", "udhcpc");
  Lab lab;
  lab.client = "udhcpc";
  lab.dhcp_timeout = "3s";
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");  // no DHCP server

  auto add = lab.iface({"add", "gkpub0"});
  INFO(add.err);
  CHECK(add.exit_code == 0);
  CHECK(add.err.find("gkpub0: no lease within") != std::string::npos);
  const double took = plugin_ms(add.err, "20-dhcp-iface");
  CHECK(took >= 2900);       // it did wait for the lease, up to the deadline
  CHECK(took < 1.5 * 3000);  // one deadline for the whole step
  // The client keeps trying in the background, and a remove stops it.
  CHECK(lab.clients_on("gkpub0") == 1);
  REQUIRE(lab.iface({"remove", "gkpub0"}).exit_code == 0);
  CHECK(eventually([&] { return lab.clients_on("gkpub0") == 0; }, std::chrono::seconds(5)));
}

namespace {

// Two public NICs: gkpub0 (192.0.2.0/24) made first, so it has the lower index and is
// the one the route policy keeps; gkpub1 (198.51.100.0/24) is public as well (the
// TEST-NETs are not RFC 1918), so its default route is the one removed, and the one to
// come back when gkpub0 goes.
void two_public_nics(Lab& lab) {
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  lab.match = "[gkpub0, gkpub1]";
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.link("gkpub1", "gkd1", "198.51.100.1/24", "198.51.100.50,198.51.100.99");
  lab.serve();
}

// gkpub0 is unplugged: gkpub1 must get its default route back.
void unplug_first_and_expect_restore(Lab& lab) {
  lab.far.must({"ip", "link", "delete", "gkd0"});  // takes its peer gkpub0 along
  auto gone = lab.iface({"remove", "gkpub0"});
  INFO(gone.err);
  CHECK(gone.exit_code == 0);
  CHECK(gone.err.find("gkpub1: default route via 198.51.100.1 restored") != std::string::npos);
  const std::string routes = lab.default_routes();
  INFO(routes);
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 198.51.100.1 dev gkpub1 ", 0) == 0);
  CHECK_FALSE(fs::exists(lab.state_dir() / "default-routes"));  // nothing left to give back
}

}  // namespace

TEST_CASE("iface: two NICs attached together keep each other's saved default route",
          "[iface-net]") {
  // gkpub1's event is still running (its post-iface-attach hook, held by the test)
  // while gkpub0's event removes gkpub1's default route and records it. gkpub1's event
  // then finishes and writes its own state: the record of the removed route must
  // survive that, or the VM has no default route left after gkpub0 is removed.
  Lab lab;
  two_public_nics(lab);
  const fs::path started = lab.dir.path() / "gkpub1-hook-started";
  const fs::path release = lab.dir.path() / "release";
  lab.dir.write(
      "hooks/post-iface-attach",
      "#!/bin/sh\necho \"post-iface-attach $1\" >> " + (lab.dir.path() / "hooks.log").string() +
          "\nif [ \"$1\" = gkpub1 ]; then\n  : > " + started.string() + "\n  i=0\n  while [ ! -e " +
          release.string() + " ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done\nfi\n",
      0755);
  const fs::path config = lab.config();

  auto second = std::async(std::launch::async, [&] {
    return lab.iface_with(config, {"add", "gkpub1"});
  });
  REQUIRE(eventually([&] { return fs::exists(started); }, std::chrono::seconds(20)));
  auto first = lab.iface_with(config, {"add", "gkpub0"});
  lab.dir.write("release", "");
  auto second_done = second.get();
  INFO(first.err);
  INFO(second_done.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(second_done.exit_code == 0);
  CHECK(first.err.find("gkpub1: removed the default route via 198.51.100.1") != std::string::npos);
  const std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 192.0.2.1 dev gkpub0 ", 0) == 0);
  // gkpub1's own state still has its client; the removed route is in the policy's record.
  CHECK(state_value(lab.state_dir() / "gkpub1.state", "client") == "dhclient");

  unplug_first_and_expect_restore(lab);
}

TEST_CASE(
    "iface: two NICs added at the same moment end with one default route, given back "
    "on remove",
    "[iface-net]") {
  Lab lab;
  two_public_nics(lab);
  const fs::path config = lab.config();
  auto a = std::async(std::launch::async, [&] {
    return lab.iface_with(config, {"add", "gkpub1"});
  });
  auto b = std::async(std::launch::async, [&] {
    return lab.iface_with(config, {"add", "gkpub0"});
  });
  auto ra = a.get(), rb = b.get();
  INFO(ra.err);
  INFO(rb.err);
  REQUIRE(ra.exit_code == 0);
  REQUIRE(rb.exit_code == 0);
  const std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 1);
  CHECK(routes.rfind("default via 192.0.2.1 dev gkpub0 ", 0) == 0);
  unplug_first_and_expect_restore(lab);
}

TEST_CASE("iface: a state the route policy cannot read stops it before any change", "[iface-net]") {
  // A read error used to pass for an empty state, which was written back: the
  // interface's record of its DHCP client (CLIENT, UNIT) was lost, so its remove
  // left the client running.
  Lab lab;
  two_public_nics(lab);
  REQUIRE(lab.iface({"add", "gkpub1"}).exit_code == 0);
  const fs::path state = lab.state_dir() / "gkpub1.state";
  // Over the 64 KiB a state file may have: unreadable, as an I/O error would make it.
  std::string big = slurp(state) + std::string(70 * 1024, '#') + "\n";
  { std::ofstream(state, std::ios::trunc) << big; }

  auto add = lab.iface({"add", "gkpub0"});
  INFO(add.err);
  CHECK(add.exit_code == 1);
  CHECK(add.err.find("30-route-iface: failed") != std::string::npos);
  CHECK(slurp(state) == big);  // nothing written back
  // Nothing changed either: both default routes are still there.
  const std::string routes = lab.default_routes();
  CHECK(count_lines(routes) == 2);
  CHECK(routes.find("dev gkpub1") != std::string::npos);
}

TEST_CASE("iface: an interface named 'routes' does not wait for its own route lock",
          "[iface-net]") {
  // The event holds the lock iface-<name>; the route policy's lock must never be that
  // of an interface (it would wait for itself until its lock timeout and fail).
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  Lab lab;
  lab.match = "[routes]";
  lab.link("routes", "gkd0", "203.0.113.1/24", "203.0.113.50,203.0.113.99");
  lab.serve();
  const auto t0 = std::chrono::steady_clock::now();
  auto add = lab.iface({"add", "routes"});
  const auto took = std::chrono::steady_clock::now() - t0;
  INFO(add.err);
  CHECK(add.exit_code == 0);
  CHECK(add.err.find("30-route-iface: unchanged") != std::string::npos);
  CHECK(took < std::chrono::seconds(15));
  CHECK(lab.default_routes().rfind("default via 203.0.113.1 dev routes ", 0) == 0);
  auto remove = lab.iface({"remove", "routes"});
  INFO(remove.err);
  CHECK(remove.exit_code == 0);
}

// The pid a pid file holds, 0 while it is missing, empty or not yet a whole number.
pid_t pid_in(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return 0;
  const std::string text = slurp(file);
  pid_t pid = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (err != std::errc() || end == text.data() || (end != text.data() + text.size() && *end != '\n'))
    return 0;
  return pid;
}

TEST_CASE("iface: a DHCP client on a same-named interface in another network namespace is not ours",
          "[iface-net]") {
  // A container's (or another test's) dhclient for its own gkpub0 runs in another
  // network namespace: it neither configures our gkpub0 nor keeps guestkit from it.
  guestkit::test::need_program("dhclient", "isc-dhcp-client");
  Lab lab;
  lab.link("gkpub0", "gkd0", "192.0.2.1/24", "192.0.2.50,192.0.2.99");
  lab.serve();
  Namespace other{true, lab.dir.path() / "resolv.conf"};
  other.must({"ip", "link", "add", "gkpub0", "type", "veth", "peer", "name", "gkx0"});
  other.must({"ip", "link", "set", "gkpub0", "up"});
  // No script (-sf /bin/true): it changes nothing even when it runs.
  other.must({"dhclient", "-4", "-nw", "-sf", "/bin/true", "-pf",
              (lab.dir.path() / "other.pid").string(), "-lf",
              (lab.dir.path() / "other.leases").string(), "gkpub0"});
  // dhclient creates its pid file before it writes the number: wait for the number.
  pid_t foreign = 0;
  REQUIRE(eventually([&] { return (foreign = pid_in(lab.dir.path() / "other.pid")) > 0; }));
  REQUIRE(alive(foreign));

  auto add = lab.iface({"add", "gkpub0"});
  INFO(add.err);
  CHECK(add.exit_code == 0);
  CHECK(add.err.find("a DHCP client runs on it already") == std::string::npos);
  CHECK(add.err.find("20-dhcp-iface: changed") != std::string::npos);
  CHECK(lab.ipv4("gkpub0").find("inet 192.0.2.") != std::string::npos);
  pid_t ours = 0;
  REQUIRE(eventually([&] { return (ours = pid_in(lab.state_dir() / "gkpub0.pid")) > 0; }));
  CHECK(ours != foreign);
  REQUIRE(lab.iface({"remove", "gkpub0"}).exit_code == 0);
  CHECK(eventually([&] { return !alive(ours); }, std::chrono::seconds(5)));
  CHECK(alive(foreign));  // not ours to stop
}
