#pragma once
// Device enumeration for coldplug: what is present right now, by subsystem.
// On the live system this is libudev (which also sees udev's database); under a
// --root prefix libudev cannot be pointed elsewhere, so the same answer is built from
// <root>/sys/class/<subsystem> or <root>/sys/bus/<subsystem>/devices and each
// device's uevent file. Both produce the same DeviceInfo.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

struct DeviceInfo {
  std::string syspath;    // guest path: /sys/devices/...
  std::string sysname;    // vdb1, eth0, cpu2, memory33
  std::string subsystem;  // block, net, cpu, memory
  std::string devtype;    // disk, partition, ... (may be empty)
  std::string devname;    // /dev/vdb1 (empty when the device has no node)
  std::map<std::string, std::string> properties;  // uevent (and udev db) keys
};

class DeviceEnumerator {
 public:
  virtual ~DeviceEnumerator() = default;
  // Devices of one subsystem, sorted by sysname (natural order: cpu2 < cpu10).
  virtual Result<std::vector<DeviceInfo>> enumerate(std::string_view subsystem) const = 0;
};

// libudev for the host root, sysfs scanning for any other root.
std::unique_ptr<DeviceEnumerator> make_device_enumerator(const Root& root);
std::unique_ptr<DeviceEnumerator> make_sysfs_enumerator(const Root& root);
std::unique_ptr<DeviceEnumerator> make_libudev_enumerator();

// Parses a sysfs uevent file's KEY=VALUE lines.
std::map<std::string, std::string> parse_uevent(std::string_view text);

// "cpu2" < "cpu10": digits compare by value.
bool natural_less(std::string_view a, std::string_view b);

}  // namespace guestkit::core
