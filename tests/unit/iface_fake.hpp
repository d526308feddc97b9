#pragma once
// A fake /sys/class/net (and /proc/sys/net) in a TempDir, for the guestkit-iface
// unit tests: what the kernel shows for a NIC, a veth, a bridge...

#include <filesystem>
#include <string>

#include "tests/support.hpp"

namespace guestkit::test {

struct FakeNic {
  std::string name;
  int ifindex = 2;
  unsigned type = 1;    // ARPHRD_ETHER
  std::string devtype;  // uevent DEVTYPE
  std::string driver;   // "" = virtual (no device link)
  bool tun = false;
  bool proc = true;  // /proc/sys/net/ipv4/conf/<name>/ files
};

inline void add_fake_nic(const TempDir& t, const FakeNic& n) {
  namespace fs = std::filesystem;
  const std::string dir = "sys/class/net/" + n.name;
  t.write(dir + "/ifindex", std::to_string(n.ifindex) + "\n");
  t.write(dir + "/type", std::to_string(n.type) + "\n");
  t.write(dir + "/uevent", "INTERFACE=" + n.name + "\nIFINDEX=" + std::to_string(n.ifindex) + "\n" +
                               (n.devtype.empty() ? "" : "DEVTYPE=" + n.devtype + "\n"));
  if (n.tun) t.write(dir + "/tun_flags", "0x1002\n");
  if (!n.driver.empty()) {
    const std::string dev = "sys/devices/pci0000:00/" + n.name + "-dev";
    fs::create_directories(t.path() / "sys/bus/pci/drivers" / n.driver);
    fs::create_directories(t.path() / dev);
    fs::create_symlink("../../../bus/pci/drivers/" + n.driver, t.path() / dev / "driver");
    fs::create_symlink("../../../devices/pci0000:00/" + n.name + "-dev", t.path() / dir / "device");
  }
  if (n.proc) {
    for (const char* key : {"arp_announce", "arp_filter", "rp_filter"})
      t.write("proc/sys/net/ipv4/conf/" + n.name + "/" + key,
              std::string(key) == "rp_filter" ? "1\n" : "0\n");
  }
}

}  // namespace guestkit::test
