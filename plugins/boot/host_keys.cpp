#include "plugins/boot/host_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"

namespace guestkit::plugins::boot {

core::Result<bool> ssh_dir_present(const core::Root& root) {
  auto st = root.lstat(core::paths::kSshDir);
  if (!st) return std::move(st).error();
  if (!*st) return false;
  if (S_ISLNK((*st)->st_mode))
    return core::make_error(core::Errc::symlink_refused,
                            root.display(core::paths::kSshDir) + " is a symlink");
  if (!S_ISDIR((*st)->st_mode))
    return core::make_error(core::Errc::unsafe,
                            root.display(core::paths::kSshDir) + " is not a directory");
  return true;
}

core::Result<std::vector<std::string>> missing_host_keys(const core::Root& root) {
  std::vector<std::string> missing;
  for (const char* type : {"rsa", "ecdsa", "ed25519"}) {
    auto st = root.lstat(std::string(core::paths::kSshDir) + "/ssh_host_" + type + "_key");
    if (!st) return std::move(st).error();
    if (!*st) missing.emplace_back(type);
  }
  return missing;
}

core::Status generate_host_keys(const core::Context& ctx) {
  std::vector<std::string> argv{"ssh-keygen", "-A"};
  if (!ctx.root.is_host()) {
    argv.push_back("-f");
    argv.push_back(ctx.root.prefix().string());
  }
  if (auto r = core::run_tool(ctx, core::ToolEffect::changes, argv, tool_options(ctx)); !r)
    return std::move(r).error();
  return {};
}

core::Result<int> remove_host_keys(const core::Root& root) {
  auto names = root.list_dir(core::paths::kSshDir, core::Follow::never);
  if (!names) return std::move(names).error();
  auto dir = root.open(core::paths::kSshDir, O_PATH | O_DIRECTORY, 0, core::Follow::never);
  if (!dir) return std::move(dir).error();
  int removed = 0;
  for (const auto& name : *names) {
    const std::string_view n = name;
    if (!n.starts_with("ssh_host_") || !(n.ends_with("_key") || n.ends_with("_key.pub"))) continue;
    // unlinkat removes the name itself: a symlink is removed, never followed.
    if (::unlinkat(dir->get(), name.c_str(), 0) != 0)
      return core::errno_error("remove " +
                               root.display(std::string(core::paths::kSshDir) + "/" + name));
    ++removed;
  }
  return removed;
}

}  // namespace guestkit::plugins::boot
