// guestkit.yml decoding: the typed decoders. A MapReader (yaml_reader.hpp) walks one
// map, hands each key the schema (config_schema.hpp) knows to the decode() overload for
// its target's type and reports the keys nobody asked for.

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
#include "core/config_cache.hpp"
#include "core/config_features.hpp"
#include "core/config_schema.hpp"
#include "core/paths.hpp"
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
using detail::AbsolutePath;
using detail::Choice;
using detail::DevicePath;
using detail::Duration;
using detail::FileMode;
using detail::Integer;
using detail::Keyword;
using detail::PeerList;
using detail::PluginSwitches;
using detail::Ratio;
using detail::visit_config;
using detail::ZoneName;

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
  if (!ok) {
    diag.add(entry.mark(), quote(entry.path) + " must be a number of 0 or more, like 3 or 2.5");
    return false;
  }
  // By hand rather than stod (the locale's decimal point) or from_chars<double> (which
  // drags libm into every helper): at most 9 digits a side, so both parts are exact.
  const auto whole = std::string_view(text).substr(0, dot);
  double value = static_cast<double>(std::stoul(std::string(whole)));
  if (dot != std::string::npos) {
    const auto fraction = std::string_view(text).substr(dot + 1);
    double scale = 1;
    for (std::size_t i = 0; i < fraction.size(); ++i) scale *= 10;
    value += static_cast<double>(std::stoul(std::string(fraction))) / scale;
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

bool decode(Diagnostics& diag, const Entry& entry, DevicePath target) {
  std::string text;
  if (!decode(diag, entry, text)) return false;
  if (!text.empty() &&
      (!text.starts_with(paths::kDevPrefix) || text.find("/../") != std::string::npos ||
       text.ends_with("/..") || std::any_of(text.begin(), text.end(), [](char c) {
         return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
       }))) {
    diag.add(entry.mark(), quote(entry.path) + " must be empty or a device path like /dev/vdb2");
    return false;
  }
  target.value = std::move(text);
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, ZoneName target) {
  std::string text;
  if (!decode(diag, entry, text)) return false;
  if (!text.empty() && !valid_zone_name(text)) {
    diag.add(entry.mark(), quote(entry.path) + " must be empty or a time zone name like Europe/Paris");
    return false;
  }
  target.value = std::move(text);
  return true;
}

bool decode(Diagnostics& diag, const Entry& entry, PluginSwitches target);

// "unix", "vsock", "virtio", "serial", or an IPv4/IPv6 address with an optional
// /prefix in range.
bool valid_peer(const std::string& text) {
  if (text == "unix" || text == "vsock" || text == "virtio" || text == "serial") return true;
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
                                 " is not an address, a CIDR like 10.0.0.0/8, unix, vsock, virtio or serial");
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
        visit_config(top, work);
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

// The same rules for the configuration cache's re-validation (config_cache.cpp).
bool detail::valid_peer_entry(const std::string& text) {
  return valid_peer(text);
}
bool detail::valid_plugin_entry(std::string_view name) {
  return valid_plugin_name(name);
}

}  // namespace guestkit::core
