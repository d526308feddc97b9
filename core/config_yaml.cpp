// guestkit.yml decoding. yaml-cpp gives us a node tree; a MapReader walks one map,
// hands each key the schema knows to a typed decoder and reports the keys nobody
// asked for. The schema itself is decode_config() at the bottom: adding a setting is
// one `field(...)` line there.
//
// Types follow YAML 1.2 (core schema), not yaml-cpp's YAML 1.1 leniency: only
// true/false are booleans, so `motd: no` is an error instead of a silent guess.

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
#include <vector>

#include "core/config.hpp"
#include "core/config_features.hpp"

namespace guestkit::core {
namespace {

using detail::printable;

constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr std::string_view kBoolTag = "tag:yaml.org,2002:bool";

// Problems of one document, kept with their position so they can be reported in
// document order whatever order the decoders ran in.
class Diagnostics {
 public:
  void add(const YAML::Mark& mark, std::string message) {
    // yaml-cpp marks are 0-based, and -1 when it has no position at all.
    problems_.push_back({std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1,
                         std::move(message)});
  }
  bool empty() const { return problems_.empty(); }
  void flush(const std::string& name, std::vector<std::string>& out) {
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    for (const auto& p : problems_)
      out.push_back(name + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
                    p.message);
  }

 private:
  struct Problem {
    int line;
    int column;
    std::string message;
  };
  std::vector<Problem> problems_;
};

std::string quote(std::string_view path) {
  // Appending (not "'" + std::string&&) dodges a GCC 12 -Wrestrict false positive.
  std::string out(1, '\'');
  out += printable(path, 100);
  out += '\'';
  return out;
}

// One key/value pair of a map, with the dotted path of the key for messages.
struct Entry {
  std::string key;
  std::string path;  // "disk.root"
  YAML::Node key_node;
  YAML::Node value;

  // A missing value (`root:`) has no position of its own (yaml-cpp marks it at the
  // next token, often on another line), so point at its key instead.
  YAML::Mark mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

bool is_quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == kStrTag;
}

std::optional<bool> yaml12_bool(const YAML::Node& node) {
  if (!node.IsScalar() || (node.Tag() != "?" && node.Tag() != kBoolTag)) return std::nullopt;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// A string in YAML 1.2 terms: quoted and block scalars, !!str, and plain scalars that
// are not booleans (yaml-cpp already turned plain nulls into null nodes). Numbers are
// kept as their text: `text: 42` is "42".
bool is_string(const YAML::Node& node) {
  if (!node.IsScalar()) return false;
  if (is_quoted(node)) return true;
  return node.Tag() == "?" && !yaml12_bool(node);
}

// Why a value is not a boolean, for the people who type `motd: no`.
std::string bool_hint(const YAML::Node& node) {
  if (!node.IsScalar()) return "";
  if (is_quoted(node)) return ", not a quoted string";
  return ", not '" + printable(node.Scalar()) + "'";
}

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
  // A zero timeout would kill every plugin at once; nobody means that.
  if (value->count() <= 0) {
    diag.add(entry.mark(), quote(entry.path) + " must be longer than 0");
    return false;
  }
  target.value = *value;
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, PluginSwitches target);

// Reads one YAML map against a schema given as calls: field/section/feature take the
// keys they know, finish() reports the rest as unknown.
class MapReader {
 public:
  // `node` is a map, or null for an empty section (`disk:` with everything commented).
  MapReader(Diagnostics& diag, const YAML::Node& node, std::string path)
      : diag_(diag), path_(std::move(path)) {
    if (!node.IsMap()) return;
    // By value: yaml-cpp's it->first is a reference into a temporary proxy.
    for (const auto& pair : node) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        diag_.add(key.Mark(), path_.empty() ? std::string("keys must be strings")
                                            : "keys of " + quote(path_) + " must be strings");
        continue;
      }
      const std::string path_of_key = path_.empty() ? key.Scalar() : path_ + "." + key.Scalar();
      const bool seen = std::any_of(entries_.begin(), entries_.end(),
                                    [&](const Entry& e) { return e.key == key.Scalar(); });
      if (seen) {
        // yaml-cpp keeps both pairs and would let one win silently; which one is luck.
        diag_.add(key.Mark(), "duplicate key " + quote(path_of_key));
        continue;
      }
      entries_.push_back({key.Scalar(), path_of_key, key, pair.second});
    }
    taken_.assign(entries_.size(), false);
  }

  template <class Target>
  void field(std::string_view key, Target&& target) {
    if (const Entry* entry = take(key)) decode(diag_, *entry, std::forward<Target>(target));
  }

  // A nested map of settings; `body` declares its keys on a reader for it.
  template <class Body>
  void section(std::string_view key, Body&& body) {
    const Entry* entry = take(key);
    if (!entry) return;
    if (!entry->value.IsMap() && !entry->value.IsNull()) {
      diag_.add(entry->mark(), quote(entry->path) + " must be a map");
      return;
    }
    MapReader reader(diag_, entry->value, entry->path);
    body(reader);
    reader.finish();
  }

  // A feature: `key: true|false`, shorthand for `key: {enabled: ...}`, or a map with
  // `enabled` and the keys `body` declares.
  template <class Body>
  void feature(std::string_view key, bool& enabled, Body&& body) {
    const Entry* entry = take(key);
    if (!entry) return;
    if (auto value = yaml12_bool(entry->value)) {
      enabled = *value;
      return;
    }
    if (!entry->value.IsMap() && !entry->value.IsNull()) {
      diag_.add(entry->mark(), quote(entry->path) + " must be true, false or a map" +
                                   bool_hint(entry->value));
      return;
    }
    MapReader reader(diag_, entry->value, entry->path);
    reader.field("enabled", enabled);
    body(reader);
    reader.finish();
  }
  void feature(std::string_view key, bool& enabled) {
    feature(key, enabled, [](MapReader&) {});
  }

  // Hands every entry not taken yet to `visit`: for maps whose keys are data.
  template <class Visit>
  void rest(Visit&& visit) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (taken_[i]) continue;
      taken_[i] = true;
      visit(entries_[i]);
    }
  }

  void finish() {
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (!taken_[i]) diag_.add(entries_[i].key_node.Mark(), "unknown key " + quote(entries_[i].path));
  }

 private:
  const Entry* take(std::string_view key) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (!taken_[i] && entries_[i].key == key) {
        taken_[i] = true;
        return &entries_[i];
      }
    }
    return nullptr;
  }

  Diagnostics& diag_;
  std::string path_;
  std::vector<Entry> entries_;
  std::vector<bool> taken_;
};

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
    diag.add(entry.mark(),
             quote(entry.path) + " must be a map of plugin names to true or false");
    return false;
  }
  bool ok = true;
  MapReader names(diag, entry.value, entry.path);
  // Maps merge key by key: a drop-in that switches one plugin leaves the others alone.
  names.rest([&](const Entry& plugin) {
    bool on = true;
    if (!valid_plugin_name(plugin.key)) {
      diag.add(plugin.key_node.Mark(), "invalid plugin name " + quote(plugin.key) + " in " +
                                           quote(entry.path));
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
  top.feature("disk", c.disk.enabled, [&](MapReader& m) {
    m.field("match", c.disk.match);
    m.field("ignore", c.disk.ignore);
    m.field("root", AbsolutePath{c.disk.root});
    m.field("mount_options", c.disk.mount_options);
  });
  top.feature("iface", c.iface.enabled, [&](MapReader& m) {
    m.field("match", c.iface.match);
    m.field("no_dhcp", c.iface.no_dhcp);
    m.field("multiqueue", c.iface.multiqueue);
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
    const std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (std::size_t i = 1; i < docs.size(); ++i) {
      if (!docs[i].IsNull()) {
        diag.add(docs[i].Mark(), "only one YAML document is allowed per file");
        break;
      }
    }
    // No document at all (empty file, only comments) or an empty one: nothing to change.
    if (!docs.empty() && !docs.front().IsNull()) {
      const YAML::Node& root = docs.front();
      if (!root.IsMap()) {
        diag.add(root.Mark(), "the top level must be a map of settings");
      } else {
        MapReader top(diag, root, "");
        decode_config(top, work);
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
