// udev events: parsed and validated before anything acts on them.

#include <catch2/catch.hpp>

#include "core/udev_event.hpp"

namespace core = guestkit::core;
using Env = std::map<std::string, std::string>;

TEST_CASE("a block add event parses with its filesystem hints", "[udev]") {
  Env env{{"ACTION", "add"},
          {"SUBSYSTEM", "block"},
          {"DEVTYPE", "partition"},
          {"DEVNAME", "/dev/vdb1"},
          {"DEVPATH", "/devices/pci0000:00/0000:00:05.0/virtio2/block/vdb/vdb1"},
          {"SEQNUM", "2741"},
          {"ID_FS_TYPE", "ext4"},
          {"ID_FS_LABEL", "my_data"},
          {"ID_FS_LABEL_ENC", "my\\x2fdata"},
          {"ID_FS_UUID", "0b6c7e3a-1d2e-4f5a-9b8c-7d6e5f4a3b2c"},
          {"ID_FS_USAGE", "filesystem"}};
  auto ev = core::parse_udev_event(env);
  REQUIRE(ev);
  CHECK(ev->action == "add");
  CHECK(ev->subsystem == "block");
  CHECK(ev->devtype == "partition");
  CHECK(ev->devname == "/dev/vdb1");
  CHECK(ev->kernel_name() == "vdb1");
  CHECK(ev->seqnum == "2741");
  CHECK(ev->fs.at("TYPE") == "ext4");
  CHECK(ev->fs.at("LABEL") == "my/data");  // decoded from LABEL_ENC, the real label
  CHECK(ev->fs.at("UUID") == "0b6c7e3a-1d2e-4f5a-9b8c-7d6e5f4a3b2c");
  CHECK(ev->fs.at("USAGE") == "filesystem");
  CHECK(ev->env.size() == env.size());
}

TEST_CASE("net, cpu and memory events", "[udev]") {
  auto net = core::parse_udev_event(Env{{"ACTION", "add"},
                                        {"SUBSYSTEM", "net"},
                                        {"DEVPATH", "/devices/pci0000:00/0000:00:06.0/virtio3/net/ens6"},
                                        {"INTERFACE", "ens6"}});
  REQUIRE(net);
  CHECK(net->interface == "ens6");
  CHECK(net->devname.empty());
  auto cpu = core::parse_udev_event(
      Env{{"ACTION", "add"}, {"SUBSYSTEM", "cpu"}, {"DEVPATH", "/devices/system/cpu/cpu3"}});
  REQUIRE(cpu);
  CHECK(cpu->kernel_name() == "cpu3");
  auto mem = core::parse_udev_event(Env{
      {"ACTION", "online"}, {"SUBSYSTEM", "memory"}, {"DEVPATH", "/devices/system/memory/memory40"}});
  REQUIRE(mem);
  CHECK(mem->action == "online");
  CHECK(mem->kernel_name() == "memory40");
}

TEST_CASE("parse from an environ array", "[udev]") {
  char a[] = "ACTION=remove", s[] = "SUBSYSTEM=block", d[] = "DEVPATH=/devices/virtual/block/loop0",
       n[] = "DEVNAME=/dev/loop0", junk[] = "NOEQUALS", v[] = "EMPTY=";
  char* envp[] = {a, s, d, n, junk, v, nullptr};
  auto ev = core::parse_udev_event(envp);
  REQUIRE(ev);
  CHECK(ev->action == "remove");
  CHECK(ev->devname == "/dev/loop0");
  CHECK(ev->env.at("EMPTY").empty());
}

TEST_CASE("hostile or incomplete events are refused, naming the key", "[udev]") {
  const Env base{{"ACTION", "add"}, {"SUBSYSTEM", "block"}, {"DEVPATH", "/devices/virtual/block/vdb"}};
  auto with = [&](const std::string& k, const std::string& v) {
    Env e = base;
    e[k] = v;
    return core::parse_udev_event(e);
  };
  auto without = [&](const std::string& k) {
    Env e = base;
    e.erase(k);
    return core::parse_udev_event(e);
  };
  struct Case {
    core::Result<core::UdevEvent> r;
    const char* key;
  };
  Case cases[] = {
      {without("ACTION"), "ACTION"},
      {without("SUBSYSTEM"), "SUBSYSTEM"},
      {without("DEVPATH"), "DEVPATH"},
      {with("ACTION", "explode"), "ACTION"},
      {with("SUBSYSTEM", "bl/ock"), "SUBSYSTEM"},
      {with("DEVPATH", "/devices/../../etc"), "DEVPATH"},
      {with("DEVPATH", "/etc/passwd"), "DEVPATH"},
      {with("DEVPATH", "/devices//x"), "DEVPATH"},
      {with("DEVNAME", "/dev/../etc/shadow"), "DEVNAME"},
      {with("DEVNAME", "/etc/shadow"), "DEVNAME"},
      {with("DEVNAME", "/dev/vdb\n"), "DEVNAME"},
      {with("INTERFACE", "eth0/../x"), "INTERFACE"},
      {with("INTERFACE", "a-very-long-interface-name"), "INTERFACE"},
      {with("INTERFACE", ".."), "INTERFACE"},
      {with("DEVPATH", "/devices/" + std::string(5000, 'a')), "DEVPATH"},
  };
  for (auto& c : cases) {
    INFO(c.key);
    REQUIRE_FALSE(c.r);
    CHECK(c.r.error().code == core::Errc::bad_input);
    CHECK(c.r.error().message().find(c.key) != std::string::npos);
  }
  // A bare kernel name is accepted and made a /dev path.
  CHECK(with("DEVNAME", "vdb")->devname == "/dev/vdb");
}

TEST_CASE("udev_decode and valid_ifname", "[udev]") {
  CHECK(core::udev_decode("a\\x20b\\x2fc") == "a b/c");
  CHECK(core::udev_decode("bad\\xZZ") == "bad\\xZZ");
  CHECK(core::udev_decode("end\\x2") == "end\\x2");
  CHECK(core::valid_ifname("eth0"));
  CHECK(core::valid_ifname("enp0s31f6"));
  CHECK(core::valid_ifname("123456789012345"));
  CHECK_FALSE(core::valid_ifname("1234567890123456"));
  CHECK_FALSE(core::valid_ifname(""));
  CHECK_FALSE(core::valid_ifname("eth 0"));
  CHECK_FALSE(core::valid_ifname("eth:0"));
  CHECK_FALSE(core::valid_ifname("."));
}
