// 07-set-timezone (config): the zone from timezone.zone, else from the platform's
// guestkit.tz= kernel argument; with neither, the image's zone is left alone.
//
// The zone must be a tz database name with a file under /usr/share/zoneinfo in the
// image. /etc/localtime becomes a symlink to it (relative, as systemd-timedated and
// dpkg-reconfigure tzdata leave it, replaced atomically); /etc/timezone gets the
// name where the image has that file or is Debian-based (tzdata reads it there).
// A link that already names the zone, relative or absolute, is left as it is.

#include <sys/stat.h>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"

namespace guestkit::plugins::boot {

core::Result<Outcome> set_timezone(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  std::string zone = p.ctx.config.timezone.zone;
  if (zone.empty()) {
    auto arg = kernel_arg(root, "guestkit.tz");
    if (!arg) return Outcome::skipped;
    if (!core::valid_zone_name(*arg))
      return core::make_error(core::Errc::bad_input,
                              "guestkit.tz=" + *arg + " is not a time zone name");
    zone = *arg;
  }
  return set_zone(p, zone);
}

core::Result<Outcome> set_zone(PluginContext& p, const std::string& zone) {
  const core::Root& root = p.ctx.root;
  const std::string file = std::string(core::paths::kZoneinfoDir) + "/" + zone;
  auto st = root.stat(file, core::Follow::in_root);
  if (!st) return std::move(st).error();
  if (!*st || !S_ISREG((*st)->st_mode))
    return core::make_error(core::Errc::bad_input,
                            "unknown time zone '" + zone + "' (no " + root.display(file) + ")");

  bool changed = false;
  const std::string target = ".." + file;  // relative to /etc
  auto link = root.read_link(core::paths::kLocaltime);
  const bool link_ok = link && (*link == target || *link == file);
  if (!link_ok) {
    auto lst = root.lstat(core::paths::kLocaltime);
    if (!lst) return std::move(lst).error();
    if (*lst && S_ISDIR((*lst)->st_mode))
      return core::make_error(core::Errc::unsafe,
                              root.display(core::paths::kLocaltime) + " is a directory");
    if (p.ctx.dry_run) {
      p.ctx.would("link " + root.display(core::paths::kLocaltime) + " -> " + target);
    } else {
      auto made = ensure_symlink(root, core::paths::kLocaltime, target);
      if (!made) return std::move(made).error();
    }
    changed = true;
  }

  auto tzfile = root.lstat(core::paths::kTimezoneFile);
  if (!tzfile) return std::move(tzfile).error();
  auto debian = root.lstat(core::paths::kDebianVersion);
  if (!debian) return std::move(debian).error();
  if (*tzfile || *debian) {
    auto current =
        core::read_file_if_exists(root, core::paths::kTimezoneFile, 4096, core::Follow::never);
    if (!current) return std::move(current).error();
    if (!*current || **current != zone + "\n") {
      if (p.ctx.dry_run) {
        p.ctx.would("write " + root.display(core::paths::kTimezoneFile) + " (" + zone + ")");
      } else {
        core::WriteOptions wo;
        wo.follow = core::Follow::never;
        if (auto w = core::write_file_atomic(root, core::paths::kTimezoneFile, zone + "\n", wo); !w)
          return std::move(w).error();
      }
      changed = true;
    }
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
