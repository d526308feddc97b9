#include "agent/state.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "agent/protocol.hpp"
#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"

namespace guestkit::agent {
namespace {

constexpr const char* kInetdOff = "#<off># ";  // update-inetd's marker for a disabled line
constexpr const char* kServiceName = "guestkit-agent";

// Our inetd.conf line, enabled or not: the one whose server program is guestkit-agent,
// whatever its service field says (the shipped line uses the port, 7391, as the
// package never edits /etc/services; an admin may have used a name).
bool is_agent_inetd_line(std::string_view line) {
  std::vector<std::string_view> fields;
  for (std::size_t i = 0; i < line.size() && fields.size() < 6;) {
    const auto start = line.find_first_not_of(" \t", i);
    if (start == std::string_view::npos) break;
    const auto end = std::min(line.find_first_of(" \t", start), line.size());
    fields.push_back(line.substr(start, end - start));
    i = end;
  }
  return fields.size() == 6 && !fields[0].starts_with('#') &&
         (fields[5] == kServiceName || fields[5].ends_with(std::string("/") + kServiceName));
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool starts_with_word(const std::string& line, std::string_view word) {
  return line.starts_with(word) && (line.size() == word.size() || line[word.size()] == ' ' ||
                                    line[word.size()] == '\t' || line[word.size()] == '=');
}

}  // namespace

core::Result<pid_t> reload_daemon(const core::Root& root, const char* pid_file,
                                  const std::string& program) {
  return core::signal_pid_file(root, pid_file, {program}, SIGHUP);
}

std::string read_instance_id(const core::Root& root) {
  const auto id = core::find_instance_id(root);
  return id ? id->value : std::string();
}

AgentKey load_agent_key(const core::Root& root, const core::AgentConfig& config) {
  AgentKey out;
  auto fd = root.open(config.key_file, O_RDONLY | O_NOFOLLOW | O_NOCTTY, 0, core::Follow::never);
  if (!fd) {
    out.problem = fd.error().code == std::errc::no_such_file_or_directory
                      ? root.display(config.key_file) + " does not exist"
                      : fd.error().message();
    return out;
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    out.problem = root.display(config.key_file) + " is not a regular file";
    return out;
  }
  if (st.st_uid != 0) {
    out.problem = root.display(config.key_file) + " is owned by uid " + std::to_string(st.st_uid) +
                  ", not root";
    return out;
  }
  if ((st.st_mode & 077) != 0) {
    out.problem =
        root.display(config.key_file) + " is readable or writable by group or others (want 0600)";
    return out;
  }
  auto text = core::read_file(root, config.key_file, 4096, core::Follow::never);
  if (!text) {
    out.problem = text.error().message();
    return out;
  }
  auto key = parse_key_text(*text);
  ::explicit_bzero(text->data(), text->size());
  if (!key) {
    out.problem = root.display(config.key_file) + ": " + key.error().context;
    return out;
  }
  out.key = std::move(*key);
  return out;
}

std::string marker_path(const std::string& instance_id) {
  return std::string(core::paths::kProvisionedDir) + "/" + instance_id;
}

bool is_provisioned(const core::Root& root, const std::string& instance_id) {
  if (instance_id.empty()) return false;
  auto st = root.lstat(marker_path(instance_id));
  return st && *st;
}

core::Status mark_provisioned(const core::Root& root, const std::string& instance_id,
                              const std::string& record) {
  core::WriteOptions wo;
  wo.mode = 0600;
  wo.create_parents = true;
  wo.parent_mode = 0755;
  wo.follow = core::Follow::never;
  return core::write_file_atomic(root, marker_path(instance_id), record, wo);
}

namespace {

// What reload_daemon did, as a phrase for the caller's list.
std::string reloaded(const core::Root& root, const char* pid_file, const std::string& program) {
  auto pid = reload_daemon(root, pid_file, program);
  if (pid) return "reloaded " + program + " (pid " + std::to_string(*pid) + ")";
  return program + " not reloaded: " + pid.error().message() + ", ignoring";
}

}  // namespace

core::Result<std::vector<std::string>> set_delivery_enabled(const core::Root& root, bool enabled) {
  std::vector<std::string> done;
  // xinetd: the `disable` attribute of our service.
  auto xinetd = root.lstat(core::paths::kXinetdEntry);
  if (!xinetd) return std::move(xinetd).error();
  if (*xinetd) {
    const std::string want = std::string("\tdisable\t\t= ") + (enabled ? "no" : "yes");
    auto edited =
        core::edit_lines(root, core::paths::kXinetdEntry, [&](std::vector<std::string>& lines) {
          bool found = false;
          for (auto& line : lines) {
            if (starts_with_word(trim(line), "disable")) {
              line = want;
              found = true;
            }
          }
          if (found) return;
          for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
            if (trim(*it) == "}") {
              lines.insert(it.base() - 1, want);
              return;
            }
          }
        });
    if (!edited) return std::move(edited).error();
    if (*edited) {
      done.push_back(std::string(enabled ? "enabled " : "disabled ") +
                     root.display(core::paths::kXinetdEntry));
      if (root.is_host()) done.push_back(reloaded(root, core::paths::kXinetdPid, "xinetd"));
    }
  }
  // inetd.conf: our line, commented the way update-inetd --disable does.
  auto inetd = core::read_file_if_exists(root, core::paths::kInetdConf, 1 << 20);
  if (!inetd) return std::move(inetd).error();
  if (*inetd) {
    auto edited =
        core::edit_lines(root, core::paths::kInetdConf, [&](std::vector<std::string>& lines) {
          for (auto& line : lines) {
            const bool off = line.starts_with(kInetdOff);
            const std::string body = off ? line.substr(std::string(kInetdOff).size()) : line;
            if (!is_agent_inetd_line(body)) continue;
            line = enabled ? body : std::string(kInetdOff) + body;
          }
        });
    if (!edited) return std::move(edited).error();
    if (*edited) {
      done.push_back(std::string(enabled ? "enabled the " : "disabled the ") + kServiceName +
                     " line of " + root.display(core::paths::kInetdConf));
      if (root.is_host()) done.push_back(reloaded(root, core::paths::kInetdPid, "inetd"));
    }
  }
  // systemd socket activation: only on the live system, only when systemd runs.
  auto systemd = root.lstat(core::paths::kSystemdRunDir);
  if (root.is_host() && systemd && *systemd) {
    auto res = core::run_tool({"systemctl", enabled ? "enable" : "disable", "--now", "--no-block",
                               "guestkit-agent.socket"});
    if (res)
      done.push_back(std::string(enabled ? "enabled" : "disabled") + " guestkit-agent.socket");
  }
  return done;
}

}  // namespace guestkit::agent
