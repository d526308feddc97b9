#include "plugins/external.hpp"

#include <sys/stat.h>
#include <unistd.h>

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
  if (s.st_uid != 0 && s.st_uid != ::geteuid()) return "unsafe: owned by uid " + std::to_string(s.st_uid);
  return "";
}

ExternalResult run_external(core::Context& ctx, const std::string& label, const std::string& guest_path,
                            const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout) {
  ExternalResult r;
  auto resolved = ctx.root.resolve(guest_path, core::Follow::in_root, true);
  auto host = resolved ? ctx.root.host_path(*resolved) : core::Result<std::filesystem::path>(resolved.error());
  if (!host) {
    r.message = host.error().message();
    return r;
  }
  std::vector<std::string> argv{host->string()};
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

core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args) {
  const std::string path = ctx.config.hooks_dir + "/" + name;
  std::string problem = executable_problem(ctx.root, path);
  if (problem == "missing" || problem.rfind("masked", 0) == 0) return false;
  if (!problem.empty())
    return core::make_error(core::Errc::failed, "hook " + ctx.root.display(path) + ": " + problem);
  auto r = run_external(ctx, "hook " + name, path, args, {{"GUESTKIT_HOOK", name}});
  if (!r.ok) return core::make_error(core::Errc::failed, "hook " + name + ": " + r.message);
  return true;
}

}  // namespace guestkit::plugins
