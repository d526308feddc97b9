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

namespace {

bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

std::string dir_of(const std::string& guest) {
  auto slash = guest.rfind('/');
  return slash == 0 ? "/" : guest.substr(0, slash);
}

struct OpenDir {
  core::UniqueFd fd;
  std::string problem;
};

// Opens `guest_dir` (resolved: no symlink in it) from the root down, one
// O_NOFOLLOW step at a time, and checks every directory on the way, the root
// included: whoever can write one of them can swap what lies below it.
OpenDir open_trusted_dir(const core::Root& root, const std::string& guest_dir) {
  OpenDir out;
  auto top = root.open("/", O_PATH | O_DIRECTORY);
  if (!top) {
    out.problem = top.error().message();
    return out;
  }
  core::UniqueFd dir = std::move(top).value();
  std::string here = "/";
  for (std::size_t i = 0;;) {
    struct stat st {};
    if (::fstat(dir.get(), &st) < 0) {
      out.problem = core::errno_error("stat " + root.display(here)).message();
      return out;
    }
    if (!trusted_owner(st.st_uid)) {
      out.problem = "unsafe: directory " + root.display(here) + " is owned by uid " +
                    std::to_string(st.st_uid);
      return out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      out.problem = "unsafe: directory " + root.display(here) + " is writable by group or others";
      return out;
    }
    while (i < guest_dir.size() && guest_dir[i] == '/') ++i;
    if (i >= guest_dir.size()) break;
    auto end = std::min(guest_dir.find('/', i), guest_dir.size());
    const std::string name = guest_dir.substr(i, end - i);
    i = end;
    here = here == "/" ? "/" + name : here + "/" + name;
    // A symlink here now (it was resolved a moment ago) is a swap: refused.
    core::UniqueFd next(
        ::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      out.problem = errno == ENOENT ? "missing" : core::errno_error(root.display(here)).message();
      return out;
    }
    dir = std::move(next);
  }
  out.fd = std::move(dir);
  return out;
}

}  // namespace

Executable open_executable(const core::Root& root, const std::string& guest_path) {
  Executable e;
  e.guest_path = guest_path;
  auto norm = core::Root::normalize(guest_path);
  if (!norm || *norm == "/") {
    e.problem = norm ? "not a regular file" : norm.error().message();
    return e;
  }
  const auto missing = [&](const core::Error& err) {
    e.problem = err.code == std::errc::no_such_file_or_directory ? "missing" : err.message();
    return std::move(e);
  };
  auto parent = root.resolve(dir_of(*norm), core::Follow::in_root, true);
  if (!parent) return missing(parent.error());
  std::string leaf = norm->substr(norm->rfind('/') + 1);
  std::string file = (*parent == "/" ? "" : *parent) + "/" + leaf;
  OpenDir dir = open_trusted_dir(root, *parent);
  if (!dir.fd) {
    e.problem = std::move(dir.problem);
    return e;
  }
  struct stat st {};
  if (::fstatat(dir.fd.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return missing(core::errno_error(root.display(file)));
    e.problem = core::errno_error("stat " + root.display(file)).message();
    return e;
  }
  if (S_ISLNK(st.st_mode)) {
    auto target = root.read_link(file);
    if (target && *target == core::paths::kDevNull) {
      e.problem = "masked (symlink to /dev/null)";
      return e;
    }
    auto resolved = root.resolve(file, core::Follow::in_root, true);
    if (!resolved) {
      if (resolved.error().code == std::errc::no_such_file_or_directory)
        e.problem = "dangling symlink";
      else
        e.problem = resolved.error().message();
      return e;
    }
    file = *resolved;
    leaf = file.substr(file.rfind('/') + 1);
    dir = open_trusted_dir(root, dir_of(file));
    if (!dir.fd) {
      e.problem = std::move(dir.problem);
      return e;
    }
  }
  core::UniqueFd fd(::openat(dir.fd.get(), leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return missing(core::errno_error(root.display(file)));
    e.problem = core::errno_error(root.display(file)).message();
    return e;
  }
  if (::fstat(fd.get(), &st) < 0) {
    e.problem = core::errno_error("stat " + root.display(file)).message();
    return e;
  }
  // The rules, on what was opened: the file that will run.
  if (S_ISLNK(st.st_mode)) {
    e.problem = "unsafe: replaced by a symlink while being checked";
  } else if (!S_ISREG(st.st_mode)) {
    e.problem = "not a regular file";
  } else if (!(st.st_mode & S_IXUSR)) {
    e.problem = "not executable";
  } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    // A file others can write is code anyone can make root run.
    e.problem = "unsafe: writable by group or others";
  } else if (!trusted_owner(st.st_uid)) {
    e.problem = "unsafe: owned by uid " + std::to_string(st.st_uid);
  }
  if (!e.problem.empty()) return e;
  e.fd = std::move(fd);
  e.host_path = root.display(file);
  return e;
}

core::Result<std::string> read_head(const Executable& exe, std::size_t n) {
  if (!exe.fd)
    return core::make_error(core::Errc::bad_input, "read " + exe.guest_path + ": not opened");
  // An O_PATH descriptor cannot be read; its /proc/self/fd link reopens that inode.
  const std::string self =
      std::string(core::paths::kProcSelfFd) + "/" + std::to_string(exe.fd.get());
  core::UniqueFd fd(::open(self.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return core::errno_error("read " + exe.host_path);
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd.get(), out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return core::errno_error("read " + exe.host_path);
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

std::string executable_problem(const core::Root& root, const std::string& guest_path) {
  return open_executable(root, guest_path).problem;
}

ExternalResult run_external(core::Context& ctx, const std::string& label,
                            const std::string& guest_path, const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env,
                            std::optional<std::chrono::milliseconds> timeout) {
  return run_executable(ctx, label, open_executable(ctx.root, guest_path), args, env, timeout);
}

ExternalResult run_executable(core::Context& ctx, const std::string& label, const Executable& exe,
                              const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env,
                              std::optional<std::chrono::milliseconds> timeout) {
  ExternalResult r;
  if (!exe.runnable() || !exe.fd) {
    r.message = exe.problem.empty() ? "not opened" : exe.problem;
    return r;
  }
  std::vector<std::string> argv{exe.host_path};
  argv.insert(argv.end(), args.begin(), args.end());
  if (ctx.dry_run) {
    std::vector<std::string> shown = exe.interpreter;
    shown.insert(shown.end(), argv.begin(), argv.end());
    core::would_run(ctx, shown);
    r.ok = true;
    r.message = "dry run";
    return r;
  }
  core::ExecOptions eo;
  eo.timeout = timeout.value_or(ctx.config.plugins.timeout);
  eo.env = env;
  eo.env["GUESTKIT_ROOT"] = ctx.root.prefix().string();
  eo.env["GUESTKIT_VERSION"] = kVersion;
  // $0 of a script is /proc/self/fd/3 (the checked inode is what runs): its own path,
  // for messages, is here.
  eo.env["GUESTKIT_PROGRAM"] = exe.host_path;
  auto res = core::run_fd(exe.fd.get(), argv, eo, exe.interpreter);
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

bool needs_shell(const Executable& exe) {
  auto head = read_head(exe, 4);
  if (!head) return false;  // let the exec report why it cannot run
  const std::string& h = *head;
  if (h.size() >= 2 && h[0] == '#' && h[1] == '!') return false;
  if (h.size() == 4 && h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F') return false;
  return true;
}

core::Result<bool> run_hook(core::Context& ctx, const std::string& name,
                            const std::vector<std::string>& args) {
  const auto found = locate_hook(ctx.root, ctx.config, name);
  if (!found) return false;
  const auto& [path, problem] = *found;
  if (!problem.empty())
    return core::make_error(core::Errc::failed, "hook " + ctx.root.display(path) + ": " + problem);
  auto exe = open_executable(ctx.root, path);  // the inode checked is the one that runs
  if (!exe.runnable())
    return core::make_error(core::Errc::failed,
                            "hook " + ctx.root.display(path) + ": " + exe.problem);
  // gandi-hosting-vm2's hook templates have no #! line: its shell ran them as sh scripts.
  if (needs_shell(exe)) {
    exe.interpreter = {core::paths::kBinSh};
    core::log_info("hook ", ctx.root.display(path), ": no #! line, running it with ",
                   core::paths::kBinSh, " as gandi-hosting-vm2 did");
  }
  auto r = run_executable(ctx, "hook " + name, exe, args, {{"GUESTKIT_HOOK", name}});
  if (!r.ok) return core::make_error(core::Errc::failed, "hook " + name + ": " + r.message);
  return true;
}

}  // namespace guestkit::plugins
