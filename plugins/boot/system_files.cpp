// 02-check-system-files (config): the system files a VM cannot do without.
//
// * /etc/hosts maps 127.0.0.1 and ::1 to localhost (lines added at the top when
//   missing; a missing file is created with them).
// * /etc/fstab names the root filesystem by UUID or LABEL: a kernel device name
//   (/dev/sda1 from the machine the image was built on, /dev/xvda1 from another
//   hypervisor) is stale on the next platform; it becomes UUID=<uuid of the root
//   filesystem>. The previous file is kept as /etc/fstab.guestkit-bak. Other forms
//   (UUID=, LABEL=, PARTUUID=, /dev/disk/..., /dev/mapper/..., LVM paths) are left.

#include "plugins/boot/system_files.hpp"

#include <sys/stat.h>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/disk/block.hpp"

namespace guestkit::plugins::boot {
namespace {

// Fields of a config line without its comment.
std::vector<std::string> fields(std::string_view line) {
  if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  std::vector<std::string> out;
  std::string cur;
  for (char c : std::string(line) + " ") {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

bool maps_localhost(const std::vector<std::string>& lines, std::string_view address) {
  for (const auto& line : lines) {
    auto f = fields(line);
    if (f.size() < 2 || f[0] != address) continue;
    for (std::size_t i = 1; i < f.size(); ++i)
      if (f[i] == "localhost") return true;
  }
  return false;
}

// Index of the active fstab line for "/", or npos.
std::size_t root_line(const std::vector<std::string>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto f = fields(lines[i]);
    if (f.size() >= 2 && f[1] == "/") return i;
  }
  return std::string::npos;
}

bool is_kernel_name(std::string_view spec) {
  const std::string_view dev = core::paths::kDevPrefix;
  if (!spec.starts_with(dev)) return false;
  spec.remove_prefix(dev.size());
  return !spec.empty() && spec.find('/') == std::string_view::npos;
}

}  // namespace

bool ensure_localhost(std::vector<std::string>& lines) {
  std::vector<std::string> add;
  if (!maps_localhost(lines, "127.0.0.1")) add.push_back("127.0.0.1\tlocalhost");
  if (!maps_localhost(lines, "::1")) add.push_back("::1\t\tlocalhost ip6-localhost ip6-loopback");
  if (add.empty()) return false;
  // At the top, before the first entry (after a leading comment block).
  std::size_t at = 0;
  while (at < lines.size() && fields(lines[at]).empty() && !lines[at].empty()) ++at;
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), add.begin(), add.end());
  return true;
}

bool fstab_root_by_device_name(const std::vector<std::string>& lines) {
  const auto i = root_line(lines);
  return i != std::string::npos && is_kernel_name(fields(lines[i])[0]);
}

bool fix_fstab_root(std::vector<std::string>& lines, const std::string& uuid) {
  if (!fstab_root_by_device_name(lines) || uuid.empty()) return false;
  auto& line = lines[root_line(lines)];
  const std::string spec = fields(line)[0];
  const auto pos = line.find(spec);
  line.replace(pos, spec.size(), "UUID=" + uuid);
  return true;
}

core::Result<Outcome> check_system_files(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  bool changed = false;

  core::WriteOptions wo;
  wo.follow = core::Follow::never;
  auto hosts = core::read_file_if_exists(root, core::paths::kHosts, 1 << 20, core::Follow::never);
  if (!hosts) return std::move(hosts).error();
  auto hosts_lines = *hosts ? core::split_lines(**hosts) : std::vector<std::string>{};
  if (ensure_localhost(hosts_lines)) {
    if (p.ctx.dry_run) {
      p.ctx.would("add localhost lines to " + root.display(core::paths::kHosts));
    } else {
      auto w = core::edit_lines(
          root, core::paths::kHosts, [](std::vector<std::string>& l) { ensure_localhost(l); }, wo);
      if (!w) return std::move(w).error();
    }
    changed = true;
  }

  auto fstab = core::read_file_if_exists(root, core::paths::kFstab, 1 << 20, core::Follow::never);
  if (!fstab) return std::move(fstab).error();
  if (*fstab && fstab_root_by_device_name(core::split_lines(**fstab))) {
    auto device = root_fs_device(p.ctx);
    std::string uuid;
    if (device) {
      auto probe = disk::probe_block_device(core::Root::host(), *device);
      if (probe) uuid = probe->uuid;
    }
    if (uuid.empty()) {
      core::log_debug(
          "system-files: the root filesystem's UUID is unknown here, leaving /etc/fstab");
    } else if (p.ctx.dry_run) {
      p.ctx.would("name the root by UUID=" + uuid + " in " + root.display(core::paths::kFstab));
      changed = true;
    } else {
      auto st = root.lstat(core::paths::kFstab);
      if (!st) return std::move(st).error();
      core::WriteOptions bo = wo;
      if (*st) bo.mode = (*st)->st_mode & 07777;
      if (auto w = core::write_file_atomic(root, core::paths::kFstabBackup, **fstab, bo); !w)
        return std::move(w).error();
      auto w = core::edit_lines(
          root, core::paths::kFstab, [&](std::vector<std::string>& l) { fix_fstab_root(l, uuid); },
          wo);
      if (!w) return std::move(w).error();
      changed = true;
    }
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
