// guestkit.yml decoding: the typed decoders and the schema. A MapReader
// (yaml_reader.hpp) walks one map, hands each key the schema knows to the decode()
// overload for its target's type and reports the keys nobody asked for. The schema
// is decode_config() at the bottom: adding a setting is one `field(...)` line there,
// adding a kind of value one decode() overload here.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/config.hpp"
#include "core/config_features.hpp"
#include "core/yaml_reader.hpp"

namespace guestkit::core {
namespace {

using detail::bool_hint;
using detail::Diagnostics;
using detail::Entry;
using detail::is_quoted;
using detail::is_string;
using detail::MapReader;
using detail::quote;
using detail::yaml12_bool;

// Targets that need more than their C++ type says.
template <class E>
struct Choice {  // one of a fixed set of names
  E& value;
  std::span<const std::pair<std::string_view, E>> names;
};
struct Ratio {  // a non-negative decimal number: 3, 2.5
  double& value;
};
struct AbsolutePath {
  std::string& value;
};
struct Duration {  // strictly positive
  std::chrono::milliseconds& value;
};
struct PluginSwitches {
  std::map<std::string, bool>& value;
};
struct Keyword {  // a string that must be one of a fixed set of words
  std::string& value;
  std::vector<std::string_view> allowed;
};
struct Integer {  // a decimal integer in [min, max]
  std::uint32_t& value;
  std::uint32_t min;
  std::uint32_t max;
};
struct FileMode {
  unsigned& value;
};
struct PeerList {  // CIDRs or "unix"
  std::vector<std::string>& value;
};

// Decoders: set the target and return true, or report and leave it alone.
bool decode(Diagnostics& diag, const Entry& entry, bool& out) {
  if (auto value = yaml12_bool(entry.value)) {
    out = *value;
    return true;
  }
  diag.add(entry.mark(), quote(entry.path) + " must be true or false" + bool_hint(entry.value));
  return false;
}

bool decode(Diagnostics& diag, const Entry& entry, std::string& out) {
  if (!is_string(entry.value)) {
    diag.add(entry.mark(), quote(entry.path) + " must be a string");
    return false;
  }
  if (entry.value.Scalar().find('\0') != std::string::npos) {
    diag.add(entry.mark(), quote(entry.path) + " must not contain a NUL byte");
    return false;
  }
  out = entry.value.Scalar();
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, std::vector<std::string>& out) {
  const auto reject = [&](const YAML::Mark& mark) {
    diag.add(mark, quote(entry.path) + " must be a list of strings");
    return false;
  };
  if (!entry.value.IsSequence()) return reject(entry.mark());
  std::vector<std::string> items;
  for (const auto& item : entry.value) {
    if (!is_string(item) || item.Scalar().find('\0') != std::string::npos)
      return reject(item.IsNull() ? entry.value.Mark() : item.Mark());
    items.push_back(item.Scalar());
  }
  out = std::move(items);  // lists replace, never append: a drop-in states the whole list
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, AbsolutePath target) {
  if (!is_string(entry.value)) {
    diag.add(entry.mark(), quote(entry.path) + " must be an absolute path");
    return false;
  }
  std::string text;
  if (!decode(diag, entry, text)) return false;  // NUL bytes
  if (text.empty() || text.front() != '/') {
    diag.add(entry.mark(), quote(entry.path) + " must be an absolute path (starting with '/')");
    return false;
  }
  // ".." would let a setting climb out of the directory it names once joined to a root.
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('/', start), text.size());
    if (text.compare(start, end - start, "..") == 0) {
      diag.add(entry.mark(), quote(entry.path) + " must not contain '..' components");
      return false;
    }
    start = end + 1;
  }
  target.value = std::move(text);
  return true;
}

template <class E>
bool decode(Diagnostics& diag, const Entry& entry, Choice<E> target) {
  for (const auto& [name, value] : target.names) {
    if (is_string(entry.value) && entry.value.Scalar() == name) {
      target.value = value;
      return true;
    }
  }
  std::string names;
  for (const auto& [name, value] : target.names) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  diag.add(entry.mark(), quote(entry.path) + " must be one of " + names);
  return false;
}

// Digits with an optional fraction, nothing else: no sign, exponent, inf or nan, so
// what the file says is what the number is. A quoted "3" is a string, not a number.
bool decode(Diagnostics& diag, const Entry& entry, Ratio target) {
  const bool plain = is_string(entry.value) && !is_quoted(entry.value);
  const std::string text = plain ? entry.value.Scalar() : "";
  const auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const auto dot = text.find('.');
  const bool ok = digits(std::string_view(text).substr(0, dot)) &&
                  (dot == std::string::npos || digits(std::string_view(text).substr(dot + 1)));
  double value = 0;
  // from_chars, unlike stod, ignores the locale's decimal point.
  if (!ok || std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc{}) {
    diag.add(entry.mark(), quote(entry.path) + " must be a number of 0 or more, like 3 or 2.5");
    return false;
  }
  target.value = value;
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, Duration target) {
  std::optional<std::chrono::milliseconds> value;
  if (is_string(entry.value)) value = parse_duration(entry.value.Scalar());
  if (!value) {
    diag.add(entry.mark(), quote(entry.path) + " must be a duration like 30s, 500ms or 2m");
    return false;
  }
  // A zero timeout would kill the plugin or tool at once; nobody means that.
  if (value->count() <= 0) {
    diag.add(entry.mark(), quote(entry.path) + " must be longer than 0");
    return false;
  }
  target.value = *value;
  return true;
}

// The words map to themselves: one Choice decoder, one message.
bool decode(Diagnostics& diag, const Entry& entry, Keyword target) {
  std::vector<std::pair<std::string_view, std::string_view>> names;
  for (auto word : target.allowed) names.emplace_back(word, word);
  std::string_view chosen;
  if (!decode(diag, entry, Choice<std::string_view>{chosen, names})) return false;
  target.value = std::string(chosen);
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, Integer target) {
  const std::string range = std::to_string(target.min) + ".." + std::to_string(target.max);
  const std::string text =
      entry.value.IsScalar() && !is_quoted(entry.value) ? entry.value.Scalar() : "";
  const bool digits =
      !text.empty() && text.size() <= 10 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  const unsigned long long v = digits ? std::stoull(text) : 0;
  if (!digits || v < target.min || v > target.max) {
    diag.add(entry.mark(), quote(entry.path) + " must be an integer in " + range);
    return false;
  }
  target.value = static_cast<std::uint32_t>(v);
  return true;
}

// A file mode in octal: "0755", 0775, "750". Quoted or not, the text is read as octal
// (YAML 1.1 readers would take a plain 0755 as octal, 1.2 ones as decimal; we accept
// only the octal reading, which is what everyone means).
bool decode(Diagnostics& diag, const Entry& entry, FileMode target) {
  const bool scalar = entry.value.IsScalar() && !entry.value.Scalar().empty();
  const std::string text = scalar ? entry.value.Scalar() : "";
  bool ok = scalar && text.size() <= 5 &&
            std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (!ok) {
    diag.add(entry.mark(), quote(entry.path) + " must be an octal file mode like \"0755\"");
    return false;
  }
  unsigned value = static_cast<unsigned>(std::stoul(text, nullptr, 8));
  if (value > 07777) {
    diag.add(entry.mark(), quote(entry.path) + " must be at most 07777");
    return false;
  }
  target.value = value;
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, PluginSwitches target);

// "unix", or an IPv4/IPv6 address with an optional /prefix in range.
bool valid_peer(const std::string& text) {
  if (text == "unix") return true;
  const auto slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  unsigned char buf[sizeof(in6_addr)];
  unsigned max = 0;
  if (::inet_pton(AF_INET, addr.c_str(), buf) == 1)
    max = 32;
  else if (::inet_pton(AF_INET6, addr.c_str(), buf) == 1)
    max = 128;
  else
    return false;
  if (slash == std::string::npos) return true;
  const std::string bits = text.substr(slash + 1);
  unsigned n = 0;
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), n);
  return !bits.empty() && bits.size() <= 3 && ec == std::errc() &&
         end == bits.data() + bits.size() && n <= max;
}

bool decode(Diagnostics& diag, const Entry& entry, PeerList target) {
  std::vector<std::string> items;
  if (!decode(diag, entry, items)) return false;
  for (const auto& item : items) {
    if (!valid_peer(item)) {
      diag.add(entry.mark(), quote(entry.path) + ": " + quote(detail::printable(item)) +
                                 " is not an address, a CIDR like 10.0.0.0/8, or unix");
      return false;
    }
  }
  target.value = std::move(items);
  return true;
}

}  // namespace

// Here rather than in yaml_reader.hpp: it needs every decode() overload in sight.
template <class Target>
void detail::MapReader::field(std::string_view key, Target&& target) {
  if (const Entry* entry = take(key)) decode(diag_, *entry, std::forward<Target>(target));
}

namespace {

// Same rule as plugin file names: they end up as names of executables and units.
bool valid_plugin_name(std::string_view name) {
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || !alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '-'; });
}

bool decode(Diagnostics& diag, const Entry& entry, PluginSwitches target) {
  if (!entry.value.IsMap() && !entry.value.IsNull()) {
    diag.add(entry.mark(), quote(entry.path) + " must be a map of plugin names to true or false");
    return false;
  }
  bool ok = true;
  MapReader names(diag, entry.value, entry.path);
  // Maps merge key by key: a drop-in that switches one plugin leaves the others alone.
  names.rest([&](const Entry& plugin) {
    bool on = true;
    if (!valid_plugin_name(plugin.key)) {
      diag.add(plugin.key_node.Mark(),
               "invalid plugin name " + quote(plugin.key) + " in " + quote(entry.path));
      ok = false;
    } else if (decode(diag, plugin, on)) {
      target.value[plugin.key] = on;
    } else {
      ok = false;
    }
  });
  return ok;
}

// The schema of guestkit.yml.
void decode_config(MapReader& top, Config& c) {
  top.section("plugins", [&](MapReader& m) {
    m.field("timeout", Duration{c.plugins.timeout});
    m.field("enabled", PluginSwitches{c.plugins.enabled});
  });
  top.field("hooks_dir", AbsolutePath{c.hooks_dir});
  top.section("agent", [&](MapReader& m) {
    m.field("key_file", AbsolutePath{c.agent.key_file});
    m.field("auth", Keyword{c.agent.auth, {"key", "none"}});
    m.field("allow_from", PeerList{c.agent.allow_from});
    m.field("max_message", Integer{c.agent.max_message, 1024, 16u << 20});
    m.field("read_timeout", Duration{c.agent.read_timeout});
    m.field("session_timeout", Duration{c.agent.session_timeout});
    m.field("retire_after_provision", c.agent.retire_after_provision);
  });
  top.feature("disk", c.disk.enabled, [&](MapReader& m) {
    m.field("match", c.disk.match);
    m.field("ignore", c.disk.ignore);
    m.field("root", AbsolutePath{c.disk.root});
    m.field("mount_options", c.disk.mount_options);
    m.field("owner", c.disk.owner);
    m.field("group", c.disk.group);
    m.field("mode", FileMode{c.disk.mode});
    m.field("fsck", c.disk.fsck);
    m.field("grow", c.disk.grow);
    m.field("tool_timeout", Duration{c.disk.tool_timeout});
  });
  top.feature("iface", c.iface.enabled, [&](MapReader& m) {
    m.field("match", c.iface.match);
    m.field("no_dhcp", c.iface.no_dhcp);
    m.field("multiqueue", c.iface.multiqueue);
    m.field("backend",
            Keyword{c.iface.backend, {"auto", "networkd", "networkmanager", "ifupdown", "none"}});
    m.field("dhcp_client", Keyword{c.iface.dhcp_client, {"auto", "dhclient", "dhcpcd", "udhcpc"}});
    m.field("dhcp_timeout", Duration{c.iface.dhcp_timeout});
    m.field("default_route", Keyword{c.iface.default_route, {"first-public", "keep-all"}});
    // Leaves room for route_metric + ifindex below the kernel's 32-bit limit.
    m.field("route_metric", Integer{c.iface.route_metric, 0, 1u << 30});
    m.field("secondary_sysctls", c.iface.secondary_sysctls);
  });
  top.feature("motd", c.motd.enabled, [&](MapReader& m) { m.field("text", c.motd.text); });
  top.feature("timezone", c.timezone.enabled);
  top.feature("sysctl", c.sysctl.enabled);
  top.feature("sshd", c.sshd.enabled);
  top.feature("console", c.console.enabled);
  top.feature("cron", c.cron.enabled);
  top.feature("hostname", c.hostname.enabled);
  top.feature("nameserver", c.nameserver.enabled);
  top.feature("network", c.network.enabled);
  top.feature("cpu", c.cpu.enabled,
              [&](MapReader& m) { m.field("online_timeout", Duration{c.cpu.online_timeout}); });
  top.feature("memory", c.memory.enabled, [&](MapReader& m) {
    m.field("online_policy", Choice<MemoryPolicy>{c.memory.online_policy, kMemoryPolicyNames});
    m.field("movable_ratio", Ratio{c.memory.movable_ratio});
    m.field("ignore_auto_online", c.memory.ignore_auto_online);
  });
  top.finish();
}

}  // namespace

bool apply_yaml(Config& config, const std::string& text, const std::string& name,
                std::vector<std::string>& errors) {
  Diagnostics diag;
  // Decode onto a copy: a file with errors changes nothing, not half of itself.
  Config work = config;
  try {
    auto document = detail::load_one_document(text);
    if (const auto* problem = std::get_if<detail::YamlProblem>(&document)) {
      diag.add(problem->mark, problem->message);
    } else if (const YAML::Node& root = std::get<YAML::Node>(document); !root.IsNull()) {
      // (A null root is an empty file, only comments or an empty document: no change.)
      if (root.IsMap()) {
        MapReader top(diag, root, "");
        decode_config(top, work);
      } else {
        diag.add(root.Mark(), "the top level must be a map of settings");
      }
    }
  } catch (const YAML::Exception& e) {
    diag.add(e.mark, e.msg);
  } catch (const std::exception& e) {
    diag.add(YAML::Mark::null_mark(), e.what());
  }
  if (!diag.empty()) {
    diag.flush(name, errors);
    return false;
  }
  config = std::move(work);
  return true;
}

}  // namespace guestkit::core
