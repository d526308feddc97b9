// .guestkit/services: see services.hpp.

#include "plugins/disk/services.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/external.hpp"

namespace guestkit::plugins::disk {

bool valid_service(const std::string& s) {
  if (s.empty() || s.size() > 128 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '@' || c == '.' || c == '_' || c == ':' || c == '-'))
      return false;
  return s.find("..") == std::string::npos;
}

core::Result<std::optional<std::string>> read_services(int mount_fd) {
  core::UniqueFd dir(
      ::openat(mount_fd, ".guestkit", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return core::errno_error(".guestkit");
  }
  core::UniqueFd fd(
      ::openat(dir.get(), "services", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return core::errno_error(".guestkit/services");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return core::errno_error(".guestkit/services");
  if (!S_ISREG(st.st_mode))
    return core::make_error(core::Errc::bad_input, ".guestkit/services is not a regular file");
  constexpr std::size_t kLimit = 64 * 1024;
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error(".guestkit/services");
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kLimit)
      return core::make_error(core::Errc::bad_input, ".guestkit/services is over 64 KiB");
  }
  return std::optional<std::string>(std::move(text));
}

std::vector<std::string> listed_services(const std::string& who, const std::string& text) {
  std::vector<std::string> out;
  for (auto line : core::split_lines(text)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line[0] == '#') continue;
    if (!valid_service(line)) {
      core::log_warning(who, ": service name '", core::sanitize_for_log(line),
                        "' in .guestkit/services is not valid, ignoring");
      continue;
    }
    out.push_back(line);
  }
  return out;
}

bool under_systemd(const core::Context& ctx) {
  auto systemd = ctx.root.stat(core::paths::kSystemdRunDir);
  return systemd && *systemd;
}

core::Result<std::vector<std::string>> service_argv(const core::Context& ctx,
                                                    const std::string& name, ServiceAction action) {
  if (under_systemd(ctx)) {
    switch (action) {
      case ServiceAction::stop:
        return std::vector<std::string>{"systemctl", "stop", "--", name};
      case ServiceAction::start:
        return std::vector<std::string>{"systemctl", "start", "--", name};
      case ServiceAction::is_active:
        return std::vector<std::string>{"systemctl", "is-active", "--quiet", "--", name};
    }
  }
  const std::string script = std::string(core::paths::kInitdDir) + "/" + name;
  if (auto problem = executable_problem(ctx.root, script); !problem.empty())
    return core::make_error(core::Errc::failed, ctx.root.display(script) + " " + problem);
  const char* verb = action == ServiceAction::stop    ? "stop"
                     : action == ServiceAction::start ? "start"
                                                      : "status";
  return std::vector<std::string>{ctx.root.display(script), verb};
}

}  // namespace guestkit::plugins::disk
