#include "plugins/external.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "core/build_info.hpp"
#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins {

std::string executable_problem(const core::Root& root, const std::string& guest_path) {
  auto lst = root.lstat(guest_path);
  if (!lst) return lst.error().message();
  if (!*lst) return "missing";
  if (S_ISLNK((*lst)->st_mode)) {
    auto target = root.read_link(guest_path);
    if (target && *target == core::paths::kDevNull) return "masked (symlink to /dev/null)";
  }
  auto st = root.stat(guest_path, core::Follow::in_root);
  if (!st) return st.error().message();
  if (!*st) return "dangling symlink";
  const auto& s = **st;
  if (!S_ISREG(s.st_mode)) return "not a regular file";
  if (!(s.st_mode & S_IXUSR)) return "not executable";
  // A file others can write is code anyone can make root run.
  if (s.st_mode & (S_IWGRP | S_IWOTH)) return "unsafe: writable by group or others";
  if (s.st_uid != 0 && s.st_uid != ::geteuid())
    return "unsafe: owned by uid " + std::to_string(s.st_uid);
  return "";
}

ExternalResult run_external(core::Context& ctx, const std::string& label,
                            const std::string& guest_path, const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout,
                            const std::string& interpreter) {
  ExternalResult r;
  auto resolved = ctx.root.resolve(guest_path, core::Follow::in_root, true);
  auto host = resolved ? ctx.root.host_path(*resolved)
                       : core::Result<std::filesystem::path>(resolved.error());
  if (!host) {
    r.message = host.error().message();
    return r;
  }
  std::vector<std::string> argv{host->string()};
  if (!interpreter.empty()) argv.insert(argv.begin(), interpreter);
  argv.insert(argv.end(), args.begin(), args.end());
  if (ctx.dry_run) {
    std::string line = "run";
    for (const auto& a : argv) line += " " + a;
    ctx.would(line);
    r.ok = true;
    r.message = "dry run";
    return r;
  }
  core::ExecOptions eo;
  eo.timeout = timeout.value_or(ctx.config.plugins.timeout);
  eo.env = env;
  eo.env["GUESTKIT_ROOT"] = ctx.root.prefix().string();
  eo.env["GUESTKIT_VERSION"] = kVersion;
  auto res = core::run(argv, eo);
  if (!res) {
    r.message = res.error().message();
    return r;
  }
  r.ran = true;
  for (const auto& line : core::split_lines(res->out)) core::log_info(label, ": ", line);
  for (const auto& line : core::split_lines(res->err)) core::log_warning(label, ": ", line);
  r.ok = res->success();
  if (!r.ok) r.message = res->describe();
  return r;
}

std::vector<std::string> hook_dirs(const core::Config& config) {
  std::vector<std::string> dirs;
  for (const std::string& dir :
       {config.hooks_dir, config.legacy_hooks_dir, std::string(core::paths::kLegacyHooksCopy)})
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  return dirs;
}

namespace {

// The first of hook_dirs holding `name` (the problem may be non-empty), or nullopt.
std::optional<std::pair<std::string, std::string>> locate_hook(const core::Root& root,
                                                               const core::Config& config,
                                                               const std::string& name) {
  for (const auto& dir : hook_dirs(config)) {
    std::string path = dir + "/" + name;
    std::string problem = executable_problem(root, path);
    if (problem == "missing") continue;
    if (problem.rfind("masked", 0) == 0) return std::nullopt;
    return std::pair{std::move(path), std::move(problem)};
  }
  return std::nullopt;
}

}  // namespace

std::string find_hook(const core::Root& root, const core::Config& config, const std::string& name) {
  auto found = locate_hook(root, config, name);
  return found && found->second.empty() ? found->first : std::string();
}

bool needs_shell(const core::Root& root, const std::string& guest_path) {
  auto fd = root.open(guest_path, O_RDONLY | O_NOCTTY, 0, core::Follow::in_root);
  if (!fd) return false;  // let the exec report why it cannot run
  char head[4] = {};
  ssize_t n;
  do n = ::read(fd->get(), head, sizeof head);
  while (n < 0 && errno == EINTR);
  if (n >= 2 && head[0] == '#' && head[1] == '!') return false;
  if (n == 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') return false;
  return n >= 0;
}

core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args) {
  auto found = locate_hook(ctx.root, ctx.config, name);
  if (!found) return false;
  const auto& [path, problem] = *found;
  if (!problem.empty())
    return core::make_error(core::Errc::failed, "hook " + ctx.root.display(path) + ": " + problem);
  // gandi-hosting-vm2's hook templates have no #! line: its shell ran them as sh scripts.
  std::string interpreter;
  if (needs_shell(ctx.root, path)) {
    interpreter = core::paths::kBinSh;
    core::log_info("hook ", ctx.root.display(path), ": no #! line, running it with ", interpreter,
                   " as gandi-hosting-vm2 did");
  }
  auto r = run_external(ctx, "hook " + name, path, args, {{"GUESTKIT_HOOK", name}}, std::nullopt,
                        interpreter);
  if (!r.ok) return core::make_error(core::Errc::failed, "hook " + name + ": " + r.message);
  return true;
}

}  // namespace guestkit::plugins
