// 10-run-postboot (postboot): the platform may leave the customer's first-boot
// scripts in /var/lib/guestkit/postboot/ (executables named like plugins). Each runs
// once, in name order: it is moved to postboot/done/ first and run from there, so a
// script that reboots the VM (a kernel upgrade) is not run again at the next boot.
// Unsafe files (not root's, writable by group or others) are reported and left in
// place, never run. Each may run postboot.timeout.
//
// Under --root DIR the scripts belong to the image: they run chrooted into DIR
// (chroot(8), as root only), never against this machine.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins::boot {

core::Result<Outcome> run_postboot(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  auto names = root.list_dir(core::paths::kPostbootDir, core::Follow::never);
  if (!names) return std::move(names).error();
  std::vector<std::string> scripts;
  for (const auto& name : *names) {
    if (name == "done" || !valid_plugin_name(name)) continue;
    const std::string path = std::string(core::paths::kPostbootDir) + "/" + name;
    auto st = root.lstat(path);
    if (!st || !*st || S_ISDIR((*st)->st_mode)) continue;
    scripts.push_back(name);
  }
  if (scripts.empty()) return Outcome::skipped;
  if (!root.is_host() && ::geteuid() != 0 && !p.ctx.dry_run)
    return core::make_error(core::Errc::failed,
                            "running first-boot scripts under --root needs root (chroot)");

  std::vector<std::string> failed;
  bool ran = false;
  for (const auto& name : scripts) {
    const std::string path = std::string(core::paths::kPostbootDir) + "/" + name;
    const std::string done = std::string(core::paths::kPostbootDoneDir) + "/" + name;
    // Symlinks are refused outright here: the platform leaves plain files.
    auto lst = root.lstat(path);
    if (lst && *lst && S_ISLNK((*lst)->st_mode)) {
      failed.push_back(name + ": a symlink, not run");
      continue;
    }
    // Opened and checked once; that inode is what is moved and run.
    auto exe = open_executable(root, path);
    if (!exe.runnable()) {
      failed.push_back(name + ": " + exe.problem + ", not run");
      continue;
    }
    if (p.ctx.dry_run) {
      p.ctx.would("move " + root.display(path) + " to " + root.display(done) + " and run it");
      ran = true;
      continue;
    }
    auto dir = root.mkdirs(core::paths::kPostbootDoneDir, 0700, core::Follow::never);
    if (!dir) return std::move(dir).error();
    auto from = root.open_parent(path, core::Follow::never);
    if (!from) return std::move(from).error();
    if (::renameat(from->dir.get(), name.c_str(), dir->get(), name.c_str()) != 0)
      return core::errno_error("move " + root.display(path) + " to " + root.display(done));
    ran = true;
    // What was moved must be what was checked: a file swapped in since is not run.
    struct stat moved {}, checked {};
    if (::fstatat(dir->get(), name.c_str(), &moved, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fstat(exe.fd.get(), &checked) != 0 || moved.st_dev != checked.st_dev ||
        moved.st_ino != checked.st_ino) {
      failed.push_back(name + ": replaced while being checked, not run");
      continue;
    }
    exe.host_path = root.display(done);
    if (root.is_host()) {
      auto r = run_executable(p.ctx, "postboot " + name, exe, {}, {{"GUESTKIT_POSTBOOT", name}},
                              p.ctx.config.postboot.timeout);
      if (!r.ok) failed.push_back(name + ": " + r.message);
      continue;
    }
    core::ToolOptions eo;
    eo.timeout = p.ctx.config.postboot.timeout;
    eo.env = {{"GUESTKIT_POSTBOOT", name}};
    eo.failure_is_error = false;  // its output is logged first, then its status
    auto r = core::run_tool({"chroot", root.prefix().string(), done}, eo);
    if (!r) {
      failed.push_back(name + ": " + r.error().message());
      continue;
    }
    for (const auto& line : core::split_lines(r->out))
      core::log_info("postboot ", name, ": ", line);
    for (const auto& line : core::split_lines(r->err))
      core::log_warning("postboot ", name, ": ", line);
    if (!r->success()) failed.push_back(name + ": " + r->describe());
  }
  if (!failed.empty()) {
    std::string joined;
    for (const auto& f : failed) joined += (joined.empty() ? "" : "; ") + f;
    return core::make_error(core::Errc::failed, joined);
  }
  return ran ? Outcome::changed : Outcome::skipped;
}

}  // namespace guestkit::plugins::boot
