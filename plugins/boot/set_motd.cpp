// 13-set-motd: the message of the day.
//
// Where /etc/update-motd.d/ exists (Ubuntu, Debian with update-motd), the message
// goes into a script there, so the distribution's dynamic motd keeps working;
// otherwise into /etc/motd. The first time guestkit replaces an existing /etc/motd,
// the old content is kept as /etc/motd.guestkit-orig, so nothing an image builder
// wrote is lost. `motd: false` hands /etc/motd back: guestkit no longer touches it.

#include <sys/stat.h>
#include <unistd.h>

#include "core/build_info.hpp"
#include "core/encoding.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"

namespace guestkit::plugins::boot {
namespace {

std::string motd_text(const core::Config& config) {
  std::string text = config.motd.text;
  if (text.empty()) {
    text = "This system is set up and kept in step with its platform by guestkit " +
           std::string(kVersion) + ".\n";
    if (config.disk.enabled)
      text += "Data disks are mounted at " + config.disk.root + "/<label> when attached.\n";
    text += "Settings: /etc/guestkit/guestkit.yml (\"motd: false\" turns this message off).\n";
  }
  if (text.back() != '\n') text += '\n';
  return text;
}

std::string motd_script(const std::string& text) {
  std::string script =
      "#!" + std::string(core::paths::kBinSh) +
      "\n"
      "# Written by guestkit (plugin 13-set-motd) at every boot: edits here are lost.\n"
      "# Change the text with motd.text, or stop this with \"motd: false\", in\n"
      "# /etc/guestkit/guestkit.yml.\n"
      "printf '%s\\n'";
  for (const auto& line : core::split_lines(text)) script += " \\\n  " + core::shell_quote(line);
  return script + "\n";
}

}  // namespace

core::Result<Outcome> set_motd(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  const std::string text = motd_text(p.ctx.config);

  auto dir = root.stat(core::paths::kUpdateMotdDir);
  if (!dir) return std::move(dir).error();
  const bool dynamic = *dir && S_ISDIR((*dir)->st_mode);

  core::WriteOptions wo;
  wo.owner = 0;
  wo.group = 0;
  std::string target;
  std::string content;
  if (dynamic) {
    target = core::paths::kUpdateMotdScript;
    content = motd_script(text);
    wo.mode = 0755;
  } else {
    target = core::paths::kMotd;
    content = text;
    wo.mode = 0644;
  }
  // Under a test or image root we may not be root; ownership is then the caller's.
  if (!root.is_host() && ::geteuid() != 0) wo.owner = wo.group = std::nullopt;

  auto current = core::read_file_if_exists(root, target, 1 << 20, core::Follow::never);
  // A symlink or a special file at the target is reported, never followed.
  if (!current && current.error().code != core::Errc::symlink_refused) return std::move(current).error();
  const bool same = current && *current && **current == content;
  auto st = root.lstat(target);
  if (!st) return std::move(st).error();
  const bool mode_ok = *st && ((*st)->st_mode & 07777) == wo.mode;
  if (same && mode_ok) return Outcome::unchanged;

  // Keep the image's own /etc/motd once, the first time we replace it.
  const bool keep_original = !dynamic && current && *current && !(*current)->empty() && !same;
  bool have_backup = false;
  if (keep_original) {
    auto b = root.lstat(core::paths::kMotdOrig);
    if (!b) return std::move(b).error();
    have_backup = b->has_value();
  }

  if (p.ctx.dry_run) {
    if (keep_original && !have_backup)
      p.ctx.would("keep the previous " + root.display(target) + " as " +
                  root.display(core::paths::kMotdOrig));
    p.ctx.would("write " + root.display(target) + " (" + std::to_string(content.size()) + " bytes)");
    return Outcome::changed;
  }
  if (keep_original && !have_backup) {
    core::WriteOptions bo = wo;
    bo.mode = (*st)->st_mode & 07777;
    if (auto w = core::write_file_atomic(root, core::paths::kMotdOrig, **current, bo); !w)
      return std::move(w).error();
  }
  if (auto w = core::write_file_atomic(root, target, content, wo); !w) return std::move(w).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::boot
