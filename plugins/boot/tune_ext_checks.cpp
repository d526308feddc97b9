// 16-tune-ext-checks (config): an ext3/ext4 root made with periodic checks off
// (maximum mount count -1, mke2fs's default since 1.42) never gets e2fsck'd by age or
// mount count; on a long-lived VM that is how silent corruption grows. Such a root
// gets `tune2fs -c ext_checks.max_mount_count -i ext_checks.interval_days d`.
// A root whose counters the admin set (anything but -1) is left alone. /lost+found
// (which e2fsck needs to reconnect orphans) is created, 0700, if missing.

#include <fcntl.h>
#include <sys/stat.h>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/disk/block.hpp"

namespace guestkit::plugins::boot {

core::Result<Outcome> tune_ext_checks(PluginContext& p) {
  auto device = root_fs_device(p.ctx);
  if (!device) return Outcome::skipped;
  auto probe = disk::probe_block_device(core::Root::host(), *device);
  if (!probe) return std::move(probe).error();
  if (probe->type != "ext3" && probe->type != "ext4") return Outcome::skipped;

  bool changed = false;
  auto dump = core::run_tool(p.ctx, core::ToolEffect::reads, {"dumpe2fs", "-h", *device},
                             tool_options(p.ctx));
  if (!dump) return std::move(dump).error();
  const std::string key = "Maximum mount count:";
  auto pos = dump->out.find(key);
  if (pos == std::string::npos)
    return core::make_error(core::Errc::failed,
                            "dumpe2fs -h " + *device + ": no maximum mount count");
  std::string value =
      dump->out.substr(pos + key.size(), dump->out.find('\n', pos) - pos - key.size());
  value.erase(0, value.find_first_not_of(" \t"));
  if (value == "-1") {
    const auto& cfg = p.ctx.config.ext_checks;
    std::vector<std::string> argv{"tune2fs",
                                  "-c",
                                  std::to_string(cfg.max_mount_count),
                                  "-i",
                                  std::to_string(cfg.interval_days) + "d",
                                  *device};
    if (auto r = core::run_tool(p.ctx, core::ToolEffect::changes, argv, tool_options(p.ctx)); !r)
      return std::move(r).error();
    changed = true;
  }

  auto lf = p.ctx.root.lstat(core::paths::kLostFound);
  if (!lf) return std::move(lf).error();
  if (!*lf) {
    if (p.ctx.dry_run) {
      p.ctx.would("create " + p.ctx.root.display(core::paths::kLostFound));
    } else {
      if (auto d = ensure_dir(p.ctx.root, core::paths::kLostFound, 0700); !d)
        return std::move(d).error();
      // mkdir's mode is filtered by the umask; 0700 is what mklost+found leaves.
      auto fd =
          p.ctx.root.open(core::paths::kLostFound, O_RDONLY | O_DIRECTORY, 0, core::Follow::never);
      if (fd) ::fchmod(fd->get(), 0700);
    }
    changed = true;
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
