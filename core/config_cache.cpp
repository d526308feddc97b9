// The configuration cache (see config_cache.hpp): the source stamp, the codec that
// walks the schema (config_schema.hpp) a second time, and the file under /run.

#include "core/config_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/build_info.hpp"
#include "core/config_schema.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::core::detail {
namespace {

// Bump when the meaning of an encoded value changes; the schema itself is checked
// line by line (decode refuses missing and unknown keys).
constexpr std::string_view kMagic = "guestkit-config-cache 1 ";
constexpr std::string_view kBodyMark = "--\n";
constexpr std::size_t kCacheReadLimit = std::size_t{1} << 20;
constexpr std::int64_t kSettleNs = 2'000'000'000;

// Printable ASCII but the separators stays as it is; everything else is \xHH. So a
// value is one line, and a list item holds no space.
std::string escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte > 0x20 && byte < 0x7f && c != '\\' && c != '=' && c != ':') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    unsigned byte = 0;
    if (i + 3 >= text.size()) return std::nullopt;
    if (text[i + 1] != 'x' ||
        std::from_chars(text.data() + i + 2, text.data() + i + 4, byte, 16).ptr !=
            text.data() + i + 4)
      return std::nullopt;
    out += static_cast<char>(byte);
    i += 3;
  }
  return out;
}

template <class Int>
std::optional<Int> parse_int(std::string_view text, int base = 10) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// Items each followed by one space: "" is no item, " " is one empty item.
std::string encode_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += escape(item) + ' ';
  return out;
}

std::optional<std::vector<std::string>> decode_list(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto item = unescape(text.substr(0, space));
    if (!item) return std::nullopt;
    items.push_back(std::move(*item));
    text.remove_prefix(space + 1);
  }
  return items;
}

// Values by their C++ type: a schema target is either the plain member (bool&,
// std::string&, ...) or a small struct whose `value` member is one (Duration,
// AbsolutePath, ...), so a new target type needs no code here. What the YAML decoder
// checked is not checked again: the cache holds only what passed it.
std::string encode_value(const bool& v) {
  return v ? "1" : "0";
}
std::string encode_value(const std::string& v) {
  return escape(v);
}
std::string encode_value(const std::vector<std::string>& v) {
  return encode_list(v);
}
std::string encode_value(const std::chrono::milliseconds& v) {
  return std::to_string(v.count());
}
std::string encode_value(const std::uint32_t& v) {
  return std::to_string(v);
}
// The bits of the double: exact, and no locale or libm in the way.
std::string encode_value(const double& v) {
  return std::to_string(std::bit_cast<std::uint64_t>(v));
}
std::string encode_value(const std::map<std::string, bool>& v) {
  std::string out;
  for (const auto& [name, on] : v) out += escape(name) + (on ? ":1 " : ":0 ");
  return out;
}

bool decode_value(std::string_view text, bool& out) {
  if (text != "0" && text != "1") return false;
  out = text == "1";
  return true;
}
bool decode_value(std::string_view text, std::string& out) {
  auto value = unescape(text);
  if (!value) return false;
  out = std::move(*value);
  return true;
}
bool decode_value(std::string_view text, std::vector<std::string>& out) {
  auto items = decode_list(text);
  if (!items) return false;
  out = std::move(*items);
  return true;
}
bool decode_value(std::string_view text, std::chrono::milliseconds& out) {
  auto ms = parse_int<std::int64_t>(text);
  if (!ms) return false;
  out = std::chrono::milliseconds(*ms);
  return true;
}
bool decode_value(std::string_view text, std::uint32_t& out) {
  auto v = parse_int<std::uint32_t>(text);
  if (!v) return false;
  out = *v;
  return true;
}
bool decode_value(std::string_view text, double& out) {
  auto bits = parse_int<std::uint64_t>(text);
  if (!bits) return false;
  out = std::bit_cast<double>(*bits);
  return out == out;  // not NaN
}
bool decode_value(std::string_view text, std::map<std::string, bool>& out) {
  auto items = decode_list(text);
  if (!items) return false;
  std::map<std::string, bool> switches;
  for (const auto& item : *items) {
    if (item.size() < 3 || item[item.size() - 2] != ':') return false;
    bool on = false;
    if (!decode_value(std::string_view(item).substr(item.size() - 1), on)) return false;
    switches[item.substr(0, item.size() - 2)] = on;
  }
  out = std::move(switches);
  return true;
}

// A target that is a struct around the real member.
template <class T>
concept Wrapped = requires(T t) {
  t.value;
};

template <class T>
std::string encode(const T& target) {
  if constexpr (Wrapped<T>)
    return encode(target.value);
  else
    return encode_value(target);
}
template <class E>
std::string encode(const Choice<E>& t) {  // an enum: by its name
  for (const auto& [name, value] : t.names)
    if (value == t.value) return std::string(name);
  return "";
}

// What the YAML reader (config_yaml.cpp) refuses, refused again here: a cache that is
// damaged, forged or from a build with other rules cannot produce a value guestkit.yml
// could not. Plain strings and lists only need to hold no NUL.
bool no_nul(std::string_view s) {
  return s.find('\0') == std::string_view::npos;
}
template <class T>
bool acceptable(const T&) {  // bool, numbers, maps: every decodable value is one
  return true;
}
bool acceptable(const std::string& v) {
  return no_nul(v);
}
bool acceptable(const std::vector<std::string>& v) {
  return std::all_of(v.begin(), v.end(), [](const std::string& s) { return no_nul(s); });
}
bool acceptable(const AbsolutePath& t) {
  const std::string& p = t.value;
  if (p.empty() || p.front() != '/' || !no_nul(p)) return false;
  for (std::size_t start = 0; start < p.size();) {  // no ".." component
    const std::size_t end = std::min(p.find('/', start), p.size());
    if (p.compare(start, end - start, "..") == 0) return false;
    start = end + 1;
  }
  return true;
}
bool acceptable(const Duration& t) {
  return t.value.count() > 0;
}
bool acceptable(const Keyword& t) {
  return std::find(t.allowed.begin(), t.allowed.end(), t.value) != t.allowed.end();
}
bool acceptable(const Integer& t) {
  return t.value >= t.min && t.value <= t.max;
}
bool acceptable(const FileMode& t) {
  return t.value <= 07777;
}
bool acceptable(const DevicePath& t) {
  const std::string& d = t.value;
  return d.empty() || (d.starts_with(paths::kDevPrefix) && d.find("/../") == std::string::npos &&
                       !d.ends_with("/..") && std::none_of(d.begin(), d.end(), [](char c) {
                         return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
                       }));
}
bool acceptable(const ZoneName& t) {
  return t.value.empty() || valid_zone_name(t.value);
}
bool acceptable(const PeerList& t) {
  return std::all_of(t.value.begin(), t.value.end(), valid_peer_entry);
}
bool acceptable(const PluginSwitches& t) {
  return std::all_of(t.value.begin(), t.value.end(),
                     [](const auto& entry) { return valid_plugin_entry(entry.first); });
}
// At most 9 digits before and after the point in YAML: below 10^9, never negative.
bool acceptable(const Ratio& t) {
  return t.value >= 0 && t.value < 1e9;
}

template <class T>
bool decode(std::string_view text, T&& target) {
  if constexpr (Wrapped<std::remove_cvref_t<T>>)
    return decode(text, target.value) && acceptable(target);
  else
    return decode_value(text, target) && acceptable(target);
}
template <class E>
bool decode(std::string_view text, Choice<E> t) {
  for (const auto& [name, value] : t.names) {
    if (name == text) {
      t.value = value;
      return true;
    }
  }
  return false;
}

std::string join(std::string_view prefix, std::string_view key) {
  std::string path(prefix);
  if (!path.empty()) path += '.';
  path += key;
  return path;
}

// The schema walkers. Same interface as MapReader (see config_schema.hpp).
class Writer {
 public:
  Writer(std::string& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}
  template <class Target>
  void field(std::string_view key, Target&& target) {
    out_ += join(prefix_, key);
    out_ += '=';
    out_ += encode(target);
    out_ += '\n';
  }
  template <class Body>
  void section(std::string_view key, Body&& body) {
    Writer sub(out_, join(prefix_, key));
    body(sub);
  }
  template <class Body>
  void feature(std::string_view key, bool& enabled, Body&& body) {
    Writer sub(out_, join(prefix_, key));
    sub.field("enabled", enabled);
    body(sub);
  }
  void feature(std::string_view key, bool& enabled) {
    feature(key, enabled, [](Writer&) {});
  }
  void finish() {}

 private:
  std::string& out_;
  std::string prefix_;
};

class Reader {
 public:
  Reader(std::map<std::string, std::string_view, std::less<>>& lines, bool& ok, std::string prefix)
      : lines_(lines), ok_(ok), prefix_(std::move(prefix)) {}
  template <class Target>
  void field(std::string_view key, Target&& target) {
    const auto it = lines_.find(join(prefix_, key));
    if (it == lines_.end() || !decode(it->second, std::forward<Target>(target))) {
      ok_ = false;
      return;
    }
    lines_.erase(it);  // what is left at the end was not in the schema
  }
  template <class Body>
  void section(std::string_view key, Body&& body) {
    Reader sub(lines_, ok_, join(prefix_, key));
    body(sub);
  }
  template <class Body>
  void feature(std::string_view key, bool& enabled, Body&& body) {
    Reader sub(lines_, ok_, join(prefix_, key));
    sub.field("enabled", enabled);
    body(sub);
  }
  void feature(std::string_view key, bool& enabled) {
    feature(key, enabled, [](Reader&) {});
  }
  void finish() {}

 private:
  std::map<std::string, std::string_view, std::less<>>& lines_;
  bool& ok_;
  std::string prefix_;
};

// Not settings, but part of what loading produced. ':' cannot start a schema key.
constexpr std::string_view kSourcesKey = ":sources";
constexpr std::string_view kWarningsKey = ":warnings";

std::int64_t ns_of(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// One source: its stat, or "absent". Sets `settled` false for a recent change.
Status stamp_one(const Root& root, std::string_view guest, std::int64_t now, ConfigStamp& stamp) {
  auto st = root.stat(guest);
  if (!st) return std::move(st).error();
  stamp.text += escape(guest);
  if (!*st) {
    stamp.text += " absent\n";
    return {};
  }
  const struct stat& s = **st;
  const std::int64_t ctime = ns_of(s.st_ctim);
  if (ctime > now - kSettleNs) stamp.settled = false;  // also a clock stepped back
  stamp.text += ' ' + std::to_string(s.st_dev) + ' ' + std::to_string(s.st_ino) + ' ' +
                std::to_string(s.st_mode) + ' ' + std::to_string(s.st_size) + ' ' +
                std::to_string(ns_of(s.st_mtim)) + ' ' + std::to_string(ctime) + '\n';
  return {};
}

}  // namespace

std::string encode_config(const Config& config) {
  Config copy = config;  // the schema hands out mutable references
  std::string out;
  Writer writer(out, "");
  visit_config(writer, copy);
  out += std::string(kSourcesKey) + '=' + encode_list(config.sources) + '\n';
  out += std::string(kWarningsKey) + '=' + encode_list(config.warnings) + '\n';
  return out;
}

std::optional<Config> decode_config(std::string_view text) {
  std::map<std::string, std::string_view, std::less<>> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;  // cut short
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos ||
        !lines.emplace(std::string(line.substr(0, eq)), line.substr(eq + 1)).second)
      return std::nullopt;
  }
  Config config;
  bool ok = true;
  Reader reader(lines, ok, "");
  visit_config(reader, config);
  for (auto [key, target] :
       {std::pair{kSourcesKey, &config.sources}, std::pair{kWarningsKey, &config.warnings}}) {
    const auto it = lines.find(key);
    if (it == lines.end() || !decode(it->second, *target)) return std::nullopt;
    lines.erase(it);
  }
  if (!ok || !lines.empty()) return std::nullopt;
  return config;
}

bool is_dropin_name(std::string_view name) {
  return name.size() > 4 && name.front() != '.' && name.ends_with(".yml");
}

Result<ConfigStamp> stamp_config_sources(const Root& root, bool legacy,
                                         const std::vector<std::string>& extra_files) {
  timespec now_ts{};
  ::clock_gettime(CLOCK_REALTIME, &now_ts);
  const std::int64_t now = ns_of(now_ts);
  ConfigStamp stamp;
  stamp.settled = true;
  // The root's own path too: the sources' names in messages include it.
  stamp.text = std::string(kMagic) + escape(kVersion) + ' ' + escape(root.display("/")) +
               (legacy ? " legacy\n" : " no-legacy\n");
  std::vector<std::string_view> fixed{paths::kConfigFile};
  for (const auto& extra : extra_files) fixed.push_back(extra);
  fixed.push_back(paths::kConfigDropinDir);
  if (legacy)
    fixed.insert(fixed.begin(),
                 {paths::kLegacyDefault, paths::kLegacySysconfig, paths::kLegacyCopy});
  for (const auto guest : fixed)
    if (auto status = stamp_one(root, guest, now, stamp); !status) return std::move(status).error();
  // Each drop-in: an edit in place changes the file, not the directory.
  auto names = root.list_dir(paths::kConfigDropinDir);
  if (!names) return std::move(names).error();
  for (const auto& name : *names) {
    if (!is_dropin_name(name)) continue;
    const std::string guest = std::string(paths::kConfigDropinDir) + '/' + name;
    if (auto status = stamp_one(root, guest, now, stamp); !status) return std::move(status).error();
  }
  return stamp;
}

std::string_view config_cache_path(const std::vector<std::string>& extra_files) {
  return extra_files.empty() ? paths::kConfigCache : paths::kAgentConfigCache;
}

// The cache is trusted only as a regular file, with one link, owned by the effective
// user (root in production: guestkit runs as root; a test under --root as another user
// owns its own cache) and mode 0600, checked on the descriptor that is then read. A
// cache that fails any check is ignored (the caller loads the YAML and writes a new one
// over it, atomically).
std::optional<std::string> read_trusted_cache(const Root& root, std::string_view path) {
  auto fd = root.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, Follow::never);
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0600 ||
      st.st_size > static_cast<off_t>(kCacheReadLimit))
    return std::nullopt;
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd->get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    got += static_cast<std::size_t>(n);
  }
  return text;
}

std::optional<Config> read_config_cache(const Root& root, std::string_view path,
                                        const ConfigStamp& stamp) {
  const auto data = read_trusted_cache(root, path);
  if (!data) return std::nullopt;
  std::string_view text = *data;
  if (!text.starts_with(stamp.text)) return std::nullopt;
  text.remove_prefix(stamp.text.size());
  if (!text.starts_with(kBodyMark)) return std::nullopt;
  text.remove_prefix(kBodyMark.size());
  return decode_config(text);
}

Status write_config_cache(const Root& root, std::string_view path, const ConfigStamp& stamp,
                          const Config& config) {
  WriteOptions options;
  options.mode = 0600;
  options.follow = Follow::never;
  options.create_parents = true;
  options.parent_mode = 0755;
  options.durable = false;  // /run: a crash loses it, and the next load rebuilds it
  return write_file_atomic(root, path, stamp.text + std::string(kBodyMark) + encode_config(config),
                           options);
}

}  // namespace guestkit::core::detail
