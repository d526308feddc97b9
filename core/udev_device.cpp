#include "core/udev_device.hpp"

#include <libudev.h>

#include <algorithm>
#include <cctype>

#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::core {
namespace {

void sort_devices(std::vector<DeviceInfo>& devices) {
  std::sort(devices.begin(), devices.end(), [](const DeviceInfo& a, const DeviceInfo& b) {
    return natural_less(a.sysname, b.sysname);
  });
}

class SysfsEnumerator final : public DeviceEnumerator {
 public:
  explicit SysfsEnumerator(Root root) : root_(std::move(root)) {}

  Result<std::vector<DeviceInfo>> enumerate(std::string_view subsystem) const override {
    if (subsystem.empty() || subsystem.find('/') != std::string_view::npos || subsystem[0] == '.')
      return make_error(Errc::bad_input, "subsystem '" + std::string(subsystem) + "'");
    // Classes (block, net) live in /sys/class, buses (cpu, memory) in /sys/bus.
    std::string dir = std::string(paths::kSysClass) + "/" + std::string(subsystem);
    auto st = root_.stat(dir);
    if (!st) return std::move(st).error();
    if (!*st) dir = std::string(paths::kSysBus) + "/" + std::string(subsystem) + "/devices";
    auto names = root_.list_dir(dir);
    if (!names) return std::move(names).error();

    std::vector<DeviceInfo> out;
    for (const auto& name : *names) {
      auto real = root_.resolve(dir + "/" + name, Follow::in_root, true);
      if (!real) continue;  // vanished meanwhile: hotplug races are normal
      DeviceInfo d;
      d.syspath = *real;
      d.sysname = name;
      d.subsystem = std::string(subsystem);
      auto uevent = read_file_if_exists(root_, *real + "/uevent", 64 * 1024);
      if (uevent && *uevent) d.properties = parse_uevent(**uevent);
      if (auto it = d.properties.find("DEVTYPE"); it != d.properties.end()) d.devtype = it->second;
      if (auto it = d.properties.find("DEVNAME"); it != d.properties.end() && !it->second.empty())
        d.devname = it->second.front() == '/' ? it->second : paths::kDevPrefix + it->second;
      out.push_back(std::move(d));
    }
    sort_devices(out);
    return out;
  }

 private:
  Root root_;
};

class LibudevEnumerator final : public DeviceEnumerator {
 public:
  Result<std::vector<DeviceInfo>> enumerate(std::string_view subsystem) const override {
    std::unique_ptr<udev, decltype(&udev_unref)> ctx(udev_new(), &udev_unref);
    if (!ctx) return errno_error("udev_new");
    std::unique_ptr<udev_enumerate, decltype(&udev_enumerate_unref)> en(
        udev_enumerate_new(ctx.get()), &udev_enumerate_unref);
    if (!en) return errno_error("udev_enumerate_new");
    std::string sub(subsystem);
    if (int r = udev_enumerate_add_match_subsystem(en.get(), sub.c_str()); r < 0)
      return errno_error("udev match subsystem " + sub, -r);
    if (int r = udev_enumerate_scan_devices(en.get()); r < 0)
      return errno_error("udev scan " + sub, -r);

    std::vector<DeviceInfo> out;
    udev_list_entry* entry = nullptr;
    udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(en.get())) {
      const char* syspath = udev_list_entry_get_name(entry);
      std::unique_ptr<udev_device, decltype(&udev_device_unref)> dev(
          udev_device_new_from_syspath(ctx.get(), syspath), &udev_device_unref);
      if (!dev) continue;  // gone since the scan
      DeviceInfo d;
      d.syspath = syspath;
      auto str = [](const char* s) { return s ? std::string(s) : std::string(); };
      d.sysname = str(udev_device_get_sysname(dev.get()));
      d.subsystem = str(udev_device_get_subsystem(dev.get()));
      d.devtype = str(udev_device_get_devtype(dev.get()));
      d.devname = str(udev_device_get_devnode(dev.get()));
      udev_list_entry* prop = nullptr;
      udev_list_entry_foreach(prop, udev_device_get_properties_list_entry(dev.get())) {
        d.properties.emplace(str(udev_list_entry_get_name(prop)), str(udev_list_entry_get_value(prop)));
      }
      out.push_back(std::move(d));
    }
    sort_devices(out);
    return out;
  }
};

}  // namespace

std::map<std::string, std::string> parse_uevent(std::string_view text) {
  std::map<std::string, std::string> props;
  for (const auto& line : split_lines(text)) {
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    props[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return props;
}

bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    bool da = std::isdigit(static_cast<unsigned char>(a[i]));
    bool db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      std::size_t si = i, sj = j;
      while (si < a.size() && a[si] == '0') ++si;
      while (sj < b.size() && b[sj] == '0') ++sj;
      std::size_t ei = si, ej = sj;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      if (ei - si != ej - sj) return ei - si < ej - sj;
      if (auto c = a.substr(si, ei - si).compare(b.substr(sj, ej - sj)); c != 0) return c < 0;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

std::unique_ptr<DeviceEnumerator> make_sysfs_enumerator(const Root& root) {
  return std::make_unique<SysfsEnumerator>(root);
}

std::unique_ptr<DeviceEnumerator> make_libudev_enumerator() {
  return std::make_unique<LibudevEnumerator>();
}

std::unique_ptr<DeviceEnumerator> make_device_enumerator(const Root& root) {
  if (root.is_host()) return make_libudev_enumerator();
  return make_sysfs_enumerator(root);
}

}  // namespace guestkit::core
