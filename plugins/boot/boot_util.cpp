#include "plugins/boot/boot_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/disk/block.hpp"
#include "plugins/disk/mounts.hpp"

namespace guestkit::plugins::boot {

core::ToolOptions tool_options(const core::Context& ctx, bool failure_is_error) {
  core::ToolOptions o;
  o.timeout = ctx.config.boot.plugin_timeout;
  o.failure_is_error = failure_is_error;
  return o;
}

std::optional<std::string> kernel_arg(const core::Root& root, std::string_view key) {
  return core::kernel_arg(root, key);
}

std::optional<std::string> root_fs_device(const core::Context& ctx) {
  if (!ctx.config.boot.root_device.empty()) return ctx.config.boot.root_device;
  const core::Root host = core::Root::host();
  dev_t devno = 0;
  if (ctx.root.is_host()) {
    auto table = disk::MountTable::load(host);
    if (!table) return std::nullopt;
    devno = table->root_devno();
  } else {
    // Only a mountpoint: a directory on the host's own disk is not "the root disk".
    struct stat self {
    }, parent{};
    const std::string prefix = ctx.root.prefix().string();
    if (::stat(prefix.c_str(), &self) != 0 || ::stat((prefix + "/..").c_str(), &parent) != 0)
      return std::nullopt;
    if (self.st_dev == parent.st_dev && self.st_ino != parent.st_ino) return std::nullopt;
    devno = self.st_dev;
  }
  if (devno == 0) return std::nullopt;
  auto name = disk::block_name_of(host, devno);
  if (!name) return std::nullopt;
  return std::string(core::paths::kDevDir) + "/" + *name;
}

core::Result<bool> ensure_symlink(const core::Root& root, const std::string& guest,
                                  const std::string& target) {
  auto parent = root.open_parent(guest, core::Follow::never);
  if (!parent) return std::move(parent).error();
  char buf[4096];
  const ssize_t n = ::readlinkat(parent->dir.get(), parent->leaf.c_str(), buf, sizeof buf);
  if (n >= 0 && std::string_view(buf, static_cast<std::size_t>(n)) == target) return false;
  const std::string tmp = core::temp_name(parent->leaf);
  if (::symlinkat(target.c_str(), parent->dir.get(), tmp.c_str()) != 0)
    return core::errno_error("symlink " + root.display(guest));
  if (::renameat(parent->dir.get(), tmp.c_str(), parent->dir.get(), parent->leaf.c_str()) != 0) {
    auto err = core::errno_error("rename over " + root.display(guest));
    ::unlinkat(parent->dir.get(), tmp.c_str(), 0);
    return err;
  }
  return true;
}

core::Status ensure_dir(const core::Root& root, const std::string& guest, mode_t mode) {
  auto fd = root.mkdirs(guest, mode, core::Follow::never);
  if (!fd) return std::move(fd).error();
  return {};
}

}  // namespace guestkit::plugins::boot
