// Storage drivers for a late seed medium, loaded by modalias (storage_drivers.hpp).

#include "plugins/seed/storage_drivers.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/sysfs.hpp"

namespace guestkit::plugins::seed {
namespace {

std::string attr(const core::Root& host, const std::string& dir, const char* name) {
  auto text = sysfs::read_attr(host, dir + "/" + name, core::Follow::in_root);
  return text && *text ? std::move(**text) : std::string();
}

bool bound(const core::Root& host, const std::string& dir) {
  auto st = host.lstat(dir + "/driver");
  return st && *st;
}

// The kernel writes modaliases; still, only their alphabet reaches modprobe's argv.
bool sane_modalias(const std::string& m) {
  return !m.empty() && m.size() < 512 && m.front() != '-' &&
         std::all_of(m.begin(), m.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-' ||
                  c == '.' || c == '*';
         });
}

// Whether a device of `bus` may carry a seed medium (or lead to one).
bool storage(const core::Root& host, const std::string& bus, const std::string& dir) {
  if (bus == "pci") return attr(host, dir, "class").starts_with("0x01");
  if (bus == "virtio") {
    const std::string id = attr(host, dir, "device");
    return id == "0x0002" || id == "0x0008";  // virtio block, virtio SCSI
  }
  // SCSI: only devices (H:C:T:L), of the types disk, cdrom, optical, RBC.
  const std::string type = attr(host, dir, "type");
  return type == "0" || type == "5" || type == "7" || type == "14";
}

}  // namespace

StorageDrivers load_storage_drivers(const core::Root& host, std::chrono::milliseconds timeout) {
  StorageDrivers out;
  const auto start = std::chrono::steady_clock::now();
  std::set<std::string> tried;  // one modprobe per modalias
  for (int pass = 0; pass < 4; ++pass) {
    bool any = false;
    for (const char* bus : {"pci", "virtio", "scsi"}) {
      const std::string base = std::string(core::paths::kSysBus) + "/" + bus + "/devices";
      auto names = host.list_dir(base);
      if (!names) continue;
      for (const auto& name : *names) {
        const std::string dir = base + "/" + name;
        if (bound(host, dir) || !storage(host, bus, dir)) continue;
        const std::string alias = attr(host, dir, "modalias");
        if (!sane_modalias(alias) || !tried.insert(alias).second) continue;
        core::ToolOptions o;
        o.timeout = timeout;
        o.failure_is_error = false;  // exit 1 has a meaning here, below
        // -b: the administrator's blacklist holds, as it does for udev's own loads.
        auto r = core::run_tool({"modprobe", "-b", "-q", "--", alias}, o);
        if (!r) {
          out.problems.push_back("modprobe " + alias + ": " + r.error().message());
          continue;
        }
        if (!r->success()) {
          // No module for it (exit 1, quiet) is normal: a built-in or absent driver.
          if (r->exit_code != 1 || r->timed_out)
            out.problems.push_back("modprobe " + alias + " " + r->describe());
          continue;
        }
        any = true;
        out.loaded.push_back(name + " (" + alias + ")");
      }
    }
    if (!any) break;
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  return out;
}

}  // namespace guestkit::plugins::seed
