#include "core/udev_event.hpp"

#include <cctype>
#include <cstring>

#include "core/paths.hpp"

namespace guestkit::core {
namespace {

constexpr std::string_view kActions[] = {"add",    "remove",  "change", "move",
                                         "online", "offline", "bind",   "unbind"};
// Longest value we accept for any key; udev's own limit for a property is far below.
constexpr std::size_t kMaxValue = 4096;

Error bad(std::string_view key, std::string_view why) {
  return make_error(Errc::bad_input, "udev " + std::string(key) + ": " + std::string(why));
}

bool has_control(std::string_view v) {
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// "/x/y" with no empty, "." or ".." component.
bool clean_absolute(std::string_view p) {
  if (p.size() < 2 || p.front() != '/') return false;
  std::size_t i = 1;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    auto c = p.substr(i, j - i);
    if (c.empty() || c == "." || c == "..") return false;
    i = j + 1;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string UdevEvent::kernel_name() const {
  auto slash = devpath.rfind('/');
  return slash == std::string::npos ? devpath : devpath.substr(slash + 1);
}

std::string udev_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      int hi = hex_value(s[i + 2]), lo = hex_value(s[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

Result<std::string> check_kernel_name(const std::string& raw) {
  const std::string_view dev = paths::kDevPrefix;
  std::string name = raw.rfind(dev, 0) == 0 ? raw.substr(dev.size()) : raw;
  bool ok = !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0]));
  for (unsigned char c : name)
    ok = ok && (std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-');
  if (!ok) {
    std::string shown;
    for (unsigned char c : raw.substr(0, 80)) shown += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
    return make_error(Errc::bad_input, "invalid device name '" + shown + "'");
  }
  return name;
}

bool valid_ifname(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (unsigned char c : name)
    if (c == '/' || c == ':' || std::isspace(c) || c < 0x20 || c == 0x7f) return false;
  return true;
}

Result<UdevEvent> parse_udev_event(const std::map<std::string, std::string>& env) {
  UdevEvent ev;
  auto get = [&](const char* key) -> const std::string* {
    auto it = env.find(key);
    return it == env.end() ? nullptr : &it->second;
  };
  for (const auto& [key, value] : env) {
    bool ours = key == "ACTION" || key == "SUBSYSTEM" || key == "DEVTYPE" || key == "DEVNAME" ||
                key == "DEVPATH" || key == "INTERFACE" || key == "SEQNUM" ||
                key.rfind("ID_FS_", 0) == 0;
    if (!ours) continue;
    if (value.size() > kMaxValue) return bad(key, "value too long");
    // ID_FS_LABEL may legitimately hold odd bytes (it is decoded from _ENC anyway);
    // the identifying keys may not.
    if (key.rfind("ID_FS_", 0) != 0 && has_control(value)) return bad(key, "control characters");
  }

  const std::string* action = get("ACTION");
  if (!action || action->empty()) return bad("ACTION", "missing");
  bool known = false;
  for (auto a : kActions) known = known || *action == a;
  if (!known) return bad("ACTION", "unknown action '" + *action + "'");
  ev.action = *action;

  const std::string* subsystem = get("SUBSYSTEM");
  if (!subsystem || subsystem->empty()) return bad("SUBSYSTEM", "missing");
  for (unsigned char c : *subsystem)
    if (!(std::isalnum(c) || c == '_' || c == '-')) return bad("SUBSYSTEM", "invalid name");
  ev.subsystem = *subsystem;

  const std::string* devpath = get("DEVPATH");
  if (!devpath || devpath->empty()) return bad("DEVPATH", "missing");
  if (devpath->rfind("/devices/", 0) != 0 || !clean_absolute(*devpath))
    return bad("DEVPATH", "must be a clean path under /devices/");
  ev.devpath = *devpath;

  if (const auto* v = get("DEVNAME"); v && !v->empty()) {
    // udev gives /dev/vdb; a bare "vdb" is accepted from hand-written callers.
    std::string name = v->front() == '/' ? *v : paths::kDevPrefix + *v;
    if (name.rfind(paths::kDevPrefix, 0) != 0 || !clean_absolute(name))
      return bad("DEVNAME", "must be a clean path under /dev/");
    ev.devname = std::move(name);
  }
  if (const auto* v = get("INTERFACE"); v && !v->empty()) {
    if (!valid_ifname(*v)) return bad("INTERFACE", "invalid interface name");
    ev.interface = *v;
  }
  if (const auto* v = get("DEVTYPE")) ev.devtype = *v;
  if (const auto* v = get("SEQNUM")) ev.seqnum = *v;

  for (const auto& [key, value] : env) {
    if (key.rfind("ID_FS_", 0) != 0) continue;
    std::string k = key.substr(6);
    if (k == "LABEL_ENC" || k == "UUID_ENC") {
      ev.fs[k.substr(0, k.size() - 4)] = udev_decode(value);  // wins over the mangled one
    } else if (!ev.fs.count(k) || (k != "LABEL" && k != "UUID")) {
      ev.fs[k] = value;
    }
  }
  ev.env = env;
  return ev;
}

Result<UdevEvent> parse_udev_event(char** envp) {
  std::map<std::string, std::string> env;
  for (char** e = envp; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
  }
  return parse_udev_event(env);
}

}  // namespace guestkit::core
