// 01-config-console (config): a login prompt on every console the kernel reports
// (/proc/consoles: hvc0 on Xen/KVM consoles, ttyS0 serial, xvc0 old Xen, tty1), with
// the init system the image uses:
//
// * systemd: getty.target.wants/serial-getty@NAME.service (getty@ttyN.service for a
//   virtual terminal) linked to the unit template in /etc/systemd/system; on the live
//   system a new getty is also started (systemctl --no-block start: the .wants
//   directory was read at boot).
// * sysvinit: an /etc/inittab respawn line (/sbin/getty -L NAME 115200 vt102), then
//   `telinit q` on the live system.
// * upstart: /etc/init/NAME.conf.
// And /etc/securetty, where the image still has one, lists each console so root can
// log in there (the platform's emergency console).

#include "plugins/boot/config_console.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <regex>
#include <set>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"

namespace guestkit::plugins::boot {
namespace {

enum class Init { systemd, sysvinit, upstart, unknown };

bool exists(const core::Root& root, const std::string& guest,
            core::Follow follow = core::Follow::in_root) {
  auto st = root.stat(guest, follow);
  return st && *st;
}

Init detect_init(const core::Context& ctx) {
  const core::Root& root = ctx.root;
  if (ctx.root.is_host() && exists(root, core::paths::kSystemdRunDir)) return Init::systemd;
  if (auto link = root.read_link(core::paths::kSbinInit); link) {
    if (link->find("systemd") != std::string::npos) return Init::systemd;
    if (link->find("upstart") != std::string::npos) return Init::upstart;
  }
  if (exists(root, core::paths::kInittab)) return Init::sysvinit;
  if (exists(root, core::paths::kSystemdBinary) || exists(root, core::paths::kSystemdUsrBinary))
    return Init::systemd;
  if (exists(root, core::paths::kUpstartDir)) return Init::upstart;
  return Init::unknown;
}

bool virtual_terminal(const std::string& name) {
  return std::regex_match(name, std::regex("tty[0-9]+"));
}

std::vector<std::string> split_colon(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ':') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool has_word(const std::string& text, const std::string& word) {
  std::string cur;
  for (char c : text + " ") {
    if (c == ' ' || c == '\t') {
      if (cur == word || cur == core::paths::kDevPrefix + word) return true;
      cur.clear();
    } else {
      cur += c;
    }
  }
  return false;
}

std::string inittab_id(const std::string& name, const std::set<std::string>& taken) {
  std::string digits = name.substr(name.find_first_of("0123456789"));
  std::string id = virtual_terminal(name)         ? digits
                   : name.rfind("ttyS", 0) == 0   ? "T" + digits
                   : name.rfind("ttyAMA", 0) == 0 ? "A" + digits
                   : name.rfind("hvc", 0) == 0    ? "hv" + digits
                                                  : "xv" + digits;
  for (int n = 0; taken.count(id) || id.size() > 4; ++n) id = "g" + std::to_string(n);
  return id;
}

core::Result<bool> systemd_getty(PluginContext& p, const std::string& name) {
  const core::Root& root = p.ctx.root;
  const std::string templ = virtual_terminal(name) ? "getty@.service" : "serial-getty@.service";
  const std::string unit =
      virtual_terminal(name) ? "getty@" + name + ".service" : "serial-getty@" + name + ".service";
  std::string target;
  for (const char* dir : {core::paths::kSystemdLibDir, core::paths::kSystemdUsrLibDir}) {
    if (exists(root, std::string(dir) + "/" + templ)) {
      target = std::string(dir) + "/" + templ;
      break;
    }
  }
  if (target.empty())
    return core::make_error(core::Errc::failed, "no systemd unit " + templ + " in this image");
  const std::string wants = std::string(core::paths::kSystemdEtcDir) + "/getty.target.wants";
  const std::string link = wants + "/" + unit;
  // Already enabled, whichever of /lib and /usr/lib the link names.
  auto current = root.read_link(link);
  if (current && (current->ends_with("/" + templ)) && exists(root, link)) return false;
  if (p.ctx.dry_run) {
    p.ctx.would("enable " + unit + " (link " + root.display(link) + ")");
    return true;
  }
  if (auto d = ensure_dir(root, wants, 0755); !d) return std::move(d).error();
  auto made = ensure_symlink(root, link, target);
  if (!made) return std::move(made).error();
  if (root.is_host() && exists(root, core::paths::kSystemdRunDir)) {
    if (auto r = core::run_tool(p.ctx, core::ToolEffect::changes_live,
                                {"systemctl", "--no-block", "start", unit}, tool_options(p.ctx));
        !r)
      return std::move(r).error();
  }
  return true;
}

core::Result<bool> upstart_getty(PluginContext& p, const std::string& name) {
  const std::string job = std::string(core::paths::kUpstartDir) + "/" + name + ".conf";
  auto st = p.ctx.root.lstat(job);
  if (!st) return std::move(st).error();
  if (*st) return false;  // the image's own job, or ours
  const std::string text =
      "# Written by guestkit (plugin 01-config-console): a getty on " + name + ".\n" +
      "start on stopped rc RUNLEVEL=[2345]\nstop on runlevel [!2345]\nrespawn\n" + "exec " +
      core::paths::kGetty +
      (virtual_terminal(name) ? " -8 38400 " + name + "\n" : " -L " + name + " 115200 vt102\n");
  if (p.ctx.dry_run) {
    p.ctx.would("write " + p.ctx.root.display(job));
    return true;
  }
  core::WriteOptions wo;
  wo.follow = core::Follow::never;
  if (auto w = core::write_file_atomic(p.ctx.root, job, text, wo); !w) return std::move(w).error();
  return true;
}

}  // namespace

std::vector<std::string> getty_consoles(const std::string& proc_consoles) {
  static const std::regex ok("tty[0-9]+|ttyS[0-9]+|ttyAMA[0-9]+|hvc[0-9]+|xvc[0-9]+");
  std::vector<std::string> out;
  for (const auto& line : core::split_lines(proc_consoles)) {
    std::string name = line.substr(0, line.find_first_of(" \t"));
    if (!std::regex_match(name, ok)) continue;
    if (name == "tty0") name = "tty1";
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

bool ensure_inittab_gettys(std::vector<std::string>& lines,
                           const std::vector<std::string>& consoles) {
  std::set<std::string> ids;
  for (const auto& line : lines)
    if (!line.empty() && line.front() != '#') ids.insert(split_colon(line)[0]);
  bool changed = false;
  for (const auto& name : consoles) {
    const bool present = std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
      if (line.empty() || line.front() == '#') return false;
      auto f = split_colon(line);
      return f.size() >= 4 && f[2] == "respawn" && has_word(f[3], name);
    });
    if (present) continue;
    const std::string id = inittab_id(name, ids);
    ids.insert(id);
    lines.push_back(id + ":2345:respawn:" + core::paths::kGetty +
                    (virtual_terminal(name) ? " 38400 " + name : " -L " + name + " 115200 vt102"));
    changed = true;
  }
  return changed;
}

core::Result<Outcome> config_console(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  auto text = core::read_file_if_exists(root, core::paths::kProcConsoles, 64 << 10);
  if (!text) return std::move(text).error();
  const auto consoles = *text ? getty_consoles(**text) : std::vector<std::string>{};
  if (consoles.empty()) return Outcome::skipped;
  bool changed = false;
  core::WriteOptions wo;
  wo.follow = core::Follow::never;

  switch (detect_init(p.ctx)) {
    case Init::systemd:
      for (const auto& name : consoles) {
        auto r = systemd_getty(p, name);
        if (!r) return std::move(r).error();
        changed = changed || *r;
      }
      break;
    case Init::sysvinit: {
      auto current = core::read_file(root, core::paths::kInittab, 1 << 20, core::Follow::never);
      if (!current) return std::move(current).error();
      auto lines = core::split_lines(*current);
      if (!ensure_inittab_gettys(lines, consoles)) break;
      changed = true;
      if (p.ctx.dry_run) {
        p.ctx.would("add getty lines to " + root.display(core::paths::kInittab));
        break;
      }
      auto w = core::edit_lines(
          root, core::paths::kInittab,
          [&](std::vector<std::string>& l) { ensure_inittab_gettys(l, consoles); }, wo);
      if (!w) return std::move(w).error();
      if (root.is_host())
        if (auto r = core::run_tool(p.ctx, core::ToolEffect::changes_live, {"telinit", "q"},
                                    tool_options(p.ctx));
            !r)
          return std::move(r).error();
      break;
    }
    case Init::upstart:
      for (const auto& name : consoles) {
        auto r = upstart_getty(p, name);
        if (!r) return std::move(r).error();
        changed = changed || *r;
      }
      break;
    case Init::unknown:
      return Outcome::skipped;
  }

  auto securetty =
      core::read_file_if_exists(root, core::paths::kSecuretty, 1 << 20, core::Follow::never);
  if (!securetty) return std::move(securetty).error();
  if (*securetty) {
    auto lines = core::split_lines(**securetty);
    const auto before = lines;
    for (const auto& name : consoles) core::ensure_line(lines, name);
    if (lines != before) {
      changed = true;
      if (p.ctx.dry_run) {
        p.ctx.would("list the consoles in " + root.display(core::paths::kSecuretty));
      } else {
        auto w = core::edit_lines(
            root, core::paths::kSecuretty,
            [&](std::vector<std::string>& l) {
              for (const auto& name : consoles) core::ensure_line(l, name);
            },
            wo);
        if (!w) return std::move(w).error();
      }
    }
  }
  return changed ? Outcome::changed : Outcome::unchanged;
}

}  // namespace guestkit::plugins::boot
