#include "plugins/hooks.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/build_info.hpp"
#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/log.hpp"

namespace guestkit::plugins {
namespace {

// A failure that errno has no word for: the context is the whole message.
core::Error failure(std::string what) {
  return core::Error{std::error_code(), std::move(what)};
}

}  // namespace

bool valid_hook_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

core::Result<Outcome> run_hook(const core::Context& ctx, std::string_view name,
                               const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env) {
  if (!valid_hook_name(name))
    return core::make_error(core::Errc::bad_input, "hook name '" + std::string(name) + "'");
  const std::string guest = ctx.config.hooks_dir + "/" + std::string(name);
  // The hooks directory may be a link (to a config volume), but it stays in the root.
  auto st = ctx.root.stat(guest, core::Follow::in_root);
  if (!st) return std::move(st).error();
  if (!*st) {
    core::log_debug("hook ", guest, ": none");
    return Outcome::skipped;
  }
  const auto& s = **st;
  if (!S_ISREG(s.st_mode))
    return failure("hook " + ctx.root.display(guest) + " is not a regular file");
  if (!(s.st_mode & S_IXUSR)) {
    core::log_debug("hook ", guest, ": not executable, ignoring");
    return Outcome::skipped;
  }
  if ((s.st_mode & (S_IWGRP | S_IWOTH)) || (s.st_uid != 0 && s.st_uid != ::geteuid()))
    return core::make_error(core::Errc::unsafe, "refusing hook " + ctx.root.display(guest));

  auto resolved = ctx.root.resolve(guest, core::Follow::in_root, true);
  if (!resolved) return std::move(resolved).error();
  auto host = ctx.root.host_path(*resolved);
  if (!host) return std::move(host).error();
  std::vector<std::string> argv{host->string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (ctx.dry_run) {
    std::string line = "run hook " + argv[0];
    for (std::size_t i = 1; i < argv.size(); ++i) line += " " + argv[i];
    ctx.would(line);
    return Outcome::changed;
  }
  core::ExecOptions eo;
  eo.timeout = ctx.config.plugins.timeout;
  eo.env = env;
  eo.env["GUESTKIT_ROOT"] = ctx.root.prefix().string();
  eo.env["GUESTKIT_HOOK"] = std::string(name);
  eo.env["GUESTKIT_VERSION"] = kVersion;
  auto res = core::run(argv, eo);
  if (!res) return std::move(res).error();
  // The hook's words are the admin's: they go to the log as they are, one line each.
  for (const auto& line : core::split_lines(res->out)) core::log_info("hook ", name, ": ", line);
  for (const auto& line : core::split_lines(res->err)) core::log_warning("hook ", name, ": ", line);
  if (!res->success()) return failure("hook " + ctx.root.display(guest) + " " + res->describe());
  return Outcome::changed;
}

}  // namespace guestkit::plugins
