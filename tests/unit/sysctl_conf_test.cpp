// 02-apply-sysctl's parser (plugins/boot/sysctl_conf.hpp), including the key that
// fuzz/sysctl_conf.cpp found mapped to a path with empty components.

#include <catch2/catch.hpp>

#include "plugins/boot/sysctl_conf.hpp"

using guestkit::plugins::boot::parse_sysctl_conf;

TEST_CASE("sysctl.conf: both separator styles name the same file, vlan dots included", "[sysctl]") {
  const auto conf = parse_sysctl_conf(
      "net.ipv4.conf.eth0/100.rp_filter = 1\n"
      "net/ipv4/conf/eth0.100/rp_filter=1\n"
      "  -kernel.panic\t= 5  \n"
      "# comment\n; comment\n",
      "sysctl.conf");
  REQUIRE(conf.problems.empty());
  REQUIRE(conf.settings.size() == 3);
  CHECK(conf.settings[0].path == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  CHECK(conf.settings[1].path == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter");
  CHECK(conf.settings[2].path == "/proc/sys/kernel/panic");
  CHECK(conf.settings[2].optional);
  CHECK(conf.settings[2].value == "5");
  CHECK(conf.settings[2].line == 3);
}

TEST_CASE("sysctl.conf: no key maps to an empty, '.' or '..' component", "[sysctl]") {
  // The fuzzer's finding: with dots as separators, the slashes of "kernel/.//panic"
  // were kept as path separators: /proc/sys/kernel///panic.
  const auto conf = parse_sysctl_conf("kernel/.//panic = 0\nnet./.x = 1\nnet.//..x = 1\n../x = 1\n", "f");
  for (const auto& s : conf.settings) {
    CHECK(s.path.find("//") == std::string::npos);
    CHECK(s.path.find("/../") == std::string::npos);
    CHECK(s.path.find("/./") == std::string::npos);
  }
  // "kernel/.//panic" (slashes first: "." is a component), "net./.x" (the component
  // "/" stands for "."), "../x": each refused, by line.
  REQUIRE(conf.problems.size() >= 3);
  CHECK(conf.problems[0] == "f:1: invalid key");
  CHECK(conf.problems[1] == "f:2: invalid key");
}

TEST_CASE("sysctl.conf: a line without '=' is a problem naming its line", "[sysctl]") {
  const auto conf = parse_sysctl_conf("vm.swappiness\n", "/etc/guestkit/sysctl.conf");
  REQUIRE(conf.problems.size() == 1);
  CHECK(conf.problems[0] == "/etc/guestkit/sysctl.conf:1: not 'key = value'");
}
