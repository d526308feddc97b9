// The agent's peer allow-list, its instance id, key file checks, and retirement of
// its xinetd/inetd entries (--disable/--enable) on a temp root.

#include <arpa/inet.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "agent/peer.hpp"
#include "agent/state.hpp"
#include "tests/support.hpp"

namespace ga = guestkit::agent;
namespace gc = guestkit::core;

namespace {

bool allowed(const std::vector<std::string>& allow, const char* addr) {
  unsigned char bytes[16] = {};
  const int family = std::string(addr).find(':') != std::string::npos ? AF_INET6 : AF_INET;
  REQUIRE(::inet_pton(family, addr, bytes) == 1);
  return ga::peer_allowed(allow, family, bytes);
}

}  // namespace

TEST_CASE("agent allow_from matches CIDRs per family", "[agent]") {
  const std::vector<std::string> allow{"10.0.0.0/8", "192.0.2.7", "fd00::/8"};
  CHECK(allowed({}, "203.0.113.1"));
  CHECK(allowed(allow, "10.200.3.4"));
  CHECK(allowed(allow, "192.0.2.7"));
  CHECK_FALSE(allowed(allow, "192.0.2.8"));
  CHECK_FALSE(allowed(allow, "11.0.0.1"));
  CHECK(allowed(allow, "fd12::1"));
  CHECK_FALSE(allowed(allow, "fe80::1"));
  CHECK(allowed(allow, "::ffff:10.1.2.3"));  // IPv4 on a dual-stack socket
  CHECK_FALSE(allowed(allow, "::ffff:11.1.2.3"));
  CHECK(allowed({"10.1.2.0/23"}, "10.1.3.255"));
  CHECK_FALSE(allowed({"10.1.2.0/23"}, "10.1.4.0"));
  CHECK(ga::peer_allowed({"unix"}, AF_UNIX, nullptr));
  CHECK_FALSE(ga::peer_allowed({"10.0.0.0/8"}, AF_UNIX, nullptr));
  CHECK(ga::peer_allowed({"10.0.0.0/8", "vsock"}, AF_VSOCK, nullptr));
  CHECK_FALSE(ga::peer_allowed({"unix"}, AF_VSOCK, nullptr));
  CHECK_FALSE(ga::peer_allowed({"vsock"}, AF_UNIX, nullptr));
  // The serial transport's classes: a virtio-serial port, any other serial line.
  CHECK(ga::peer_allowed({"virtio"}, ga::kPeerVirtio, nullptr));
  CHECK_FALSE(ga::peer_allowed({"virtio"}, ga::kPeerSerial, nullptr));
  CHECK_FALSE(ga::peer_allowed({"serial", "unix", "vsock", "10.0.0.0/8"}, ga::kPeerVirtio, nullptr));
  CHECK(ga::peer_allowed({"unix", "serial"}, ga::kPeerSerial, nullptr));
  CHECK_FALSE(ga::peer_allowed({"virtio"}, AF_UNIX, nullptr));
  CHECK(ga::peer_allowed({}, ga::kPeerVirtio, nullptr));
}

TEST_CASE("agent instance id sources in order", "[agent]") {
  guestkit::test::TempDir tmp;
  CHECK(ga::read_instance_id(tmp.root()).empty());
  tmp.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  CHECK(ga::read_instance_id(tmp.root()) == "0123456789abcdef0123456789abcdef");
  tmp.write("sys/class/dmi/id/product_uuid", "4C4C4544-0035-3010-8030-B3C04F4E4D32\n");
  CHECK(ga::read_instance_id(tmp.root()) == "4c4c4544-0035-3010-8030-b3c04f4e4d32");
  tmp.write("etc/guestkit/instance-id", "../../etc\n");  // invalid: the next source
  CHECK(ga::read_instance_id(tmp.root()) == "4c4c4544-0035-3010-8030-b3c04f4e4d32");
  tmp.write("etc/guestkit/instance-id", "vm-42\n");
  CHECK(ga::read_instance_id(tmp.root()) == "vm-42");
}

TEST_CASE("agent key file must be root-owned 0600 hex", "[agent]") {
  guestkit::test::TempDir tmp;
  gc::AgentConfig config;
  config.key_file = "/etc/guestkit/agent.key";
  CHECK_FALSE(ga::load_agent_key(tmp.root(), config).usable());
  tmp.write("etc/guestkit/agent.key", std::string(64, 'a') + "\n", 0644);
  auto loose = ga::load_agent_key(tmp.root(), config);
  CHECK_FALSE(loose.usable());
  if (::geteuid() == 0) CHECK(loose.problem.find("group or others") != std::string::npos);
  tmp.write("etc/guestkit/agent.key", "not hex\n", 0600);
  CHECK_FALSE(ga::load_agent_key(tmp.root(), config).usable());
  tmp.write("etc/guestkit/agent.key", std::string(64, 'a') + "\n", 0600);
  if (::geteuid() == 0) CHECK(ga::load_agent_key(tmp.root(), config).usable());
}

TEST_CASE("agent retires and re-enables its xinetd and inetd entries", "[agent]") {
  guestkit::test::TempDir tmp;
  tmp.write("etc/xinetd.d/guestkit-agent",
            "service guestkit-agent\n{\n\tport\t\t= 7391\n\tdisable\t\t= no\n}\n");
  tmp.write("etc/inetd.conf",
            "#:OTHER: Other services\n"
            "7391\tstream\ttcp\tnowait\troot\t/usr/sbin/guestkit-agent\tguestkit-agent\n"
            "7392\tstream\ttcp\tnowait\troot\t/bin/guestkit-agentx\tother\n"
            "# 7393\tstream\ttcp\tnowait\troot\t/usr/sbin/guestkit-agent\tguestkit-agent\n");
  auto off = ga::set_delivery_enabled(tmp.root(), false);
  REQUIRE(off);
  CHECK(off->size() == 2);
  CHECK(tmp.read("etc/xinetd.d/guestkit-agent") ==
        "service guestkit-agent\n{\n\tport\t\t= 7391\n\tdisable\t\t= yes\n}\n");
  CHECK(tmp.read("etc/inetd.conf") ==
        "#:OTHER: Other services\n"
        "#<off># "
        "7391\tstream\ttcp\tnowait\troot\t/usr/sbin/guestkit-agent\tguestkit-agent\n"
        "7392\tstream\ttcp\tnowait\troot\t/bin/guestkit-agentx\tother\n"
        "# 7393\tstream\ttcp\tnowait\troot\t/usr/sbin/guestkit-agent\tguestkit-agent\n");
  auto again = ga::set_delivery_enabled(tmp.root(), false);
  REQUIRE(again);
  CHECK(again->empty());  // nothing left to change
  auto on = ga::set_delivery_enabled(tmp.root(), true);
  REQUIRE(on);
  CHECK(tmp.read("etc/xinetd.d/guestkit-agent").find("\tdisable\t\t= no\n") != std::string::npos);
  CHECK(tmp.read("etc/inetd.conf").find("\n7391\tstream") != std::string::npos);
  // An entry without a disable line gets one.
  tmp.write("etc/xinetd.d/guestkit-agent", "service guestkit-agent\n{\n\tport\t\t= 7391\n}\n");
  REQUIRE(ga::set_delivery_enabled(tmp.root(), false));
  CHECK(tmp.read("etc/xinetd.d/guestkit-agent") ==
        "service guestkit-agent\n{\n\tport\t\t= 7391\n\tdisable\t\t= yes\n}\n");
}
