// Where configuration comes from and in which order (see config.hpp), plus the small
// pieces shared by the YAML and legacy decoders.

#include "core/config.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>

#include "core/config_cache.hpp"
#include "core/config_features.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::core {

namespace detail {

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? '?' : c;
  }
  return out;
}

}  // namespace detail

namespace {

// Config files are a few KiB; anything bigger is a mistake or an attack, not a config.
constexpr std::size_t kConfigReadLimit = std::size_t{1} << 20;

// Editors and package managers leave x.yml~, x.yml.dpkg-old and .x.yml.swp behind:
// only *.yml counts, and hidden files never do (detail::is_dropin_name).
using detail::is_dropin_name;

std::string io_problem(const std::string& name, const Error& error) {
  return name + ": " + error.code.message();
}

// --config FILE is a host path given by the admin, deliberately outside the Root.
Result<std::string> read_host_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return errno_error(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error(path);
  if (S_ISDIR(st.st_mode)) return errno_error(path, EISDIR);
  std::string data;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error(path);
    }
    if (n == 0) break;
    data.append(buffer, static_cast<std::size_t>(n));
    if (data.size() > kConfigReadLimit) return errno_error(path, EFBIG);
  }
  return data;
}

// Names of the drop-ins in a host directory, bytewise sorted; none if it is missing.
Result<std::vector<std::string>> list_host_dropins(const std::string& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), ::closedir);
  if (!handle) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return errno_error(dir);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(handle.get())) {
    const std::string name = entry->d_name;
    struct stat st {};
    if (is_dropin_name(name) && ::stat((dir + "/" + name).c_str(), &st) == 0 &&
        !S_ISDIR(st.st_mode))
      names.push_back(name);
    errno = 0;
  }
  if (errno != 0) return errno_error(dir);
  // std::char_traits<char> compares as unsigned char: this is bytewise order.
  std::sort(names.begin(), names.end());
  return names;
}

void apply_file(Config& config, const std::string& text, const std::string& name,
                std::vector<std::string>& errors) {
  config.sources.push_back(name);
  apply_yaml(config, text, name, errors);
}

// The legacy file is advisory: if it cannot be read, say so and carry on.
void load_legacy(const Root& root, Config& config) {
  for (const char* guest : {paths::kLegacyDefault, paths::kLegacySysconfig, paths::kLegacyCopy}) {
    const std::string name = root.display(guest);
    auto text = read_file_if_exists(root, guest, kConfigReadLimit);
    if (!text) {
      config.warnings.push_back(io_problem(name, text.error()) + ", ignoring");
      return;
    }
    if (!*text) continue;
    config.sources.push_back(name);
    apply_legacy(config, **text, name);
    return;
  }
}

void load_root_files(const Root& root, Config& config, std::vector<std::string>& errors,
                     const std::vector<std::string>& extra_files) {
  std::vector<std::string> files{paths::kConfigFile};
  files.insert(files.end(), extra_files.begin(), extra_files.end());
  for (const auto& file : files) {
    const std::string name = root.display(file);
    auto text = read_file_if_exists(root, file, kConfigReadLimit);
    if (!text)
      errors.push_back(io_problem(name, text.error()));
    else if (*text)
      apply_file(config, **text, name, errors);
  }

  const std::string dir = paths::kConfigDropinDir;
  auto names = root.list_dir(dir);
  if (!names) {
    errors.push_back(io_problem(root.display(dir), names.error()));
    return;
  }
  for (const std::string& name : *names) {
    if (!is_dropin_name(name)) continue;
    const std::string guest = dir + "/" + name;
    auto st = root.stat(guest);
    if (st && *st && S_ISDIR((*st)->st_mode)) continue;
    auto dropin = read_file(root, guest, kConfigReadLimit);
    if (!dropin)
      errors.push_back(io_problem(root.display(guest), dropin.error()));
    else
      apply_file(config, *dropin, root.display(guest), errors);
  }
}

void load_host_files(const std::string& file, Config& config, std::vector<std::string>& errors) {
  auto text = read_host_file(file);
  if (!text)
    errors.push_back(text.error().message());
  else
    apply_file(config, *text, file, errors);

  const std::string dir = file + ".d";
  auto names = list_host_dropins(dir);
  if (!names) {
    errors.push_back(names.error().message());
    return;
  }
  for (const std::string& name : *names) {
    const std::string path = dir + "/" + name;
    auto dropin = read_host_file(path);
    if (!dropin)
      errors.push_back(dropin.error().message());
    else
      apply_file(config, *dropin, path, errors);
  }
}

}  // namespace

bool Config::feature_enabled(std::string_view feature) const {
  for (const auto& [name, enabled] : detail::feature_switches(*this))
    if (name == feature) return *enabled;
  return true;
}

std::string_view policy_name(MemoryPolicy policy) {
  for (const auto& [name, value] : kMemoryPolicyNames)
    if (value == policy) return name;
  return "?";
}

bool Config::plugin_enabled(std::string_view name) const {
  const auto it = plugins.enabled.find(std::string(name));
  return it == plugins.enabled.end() || it->second;
}

Result<Config> load_config(const Root& root, const ConfigLoadOptions& options) {
  // No stamp (a source cannot be stat'ed): no cache; loading reports the problem.
  std::optional<detail::ConfigStamp> stamp;
  // The stamp covers guestkit.yml, the extra files, the drop-ins and the legacy file:
  // everything but a host --config file.
  const std::string_view cache_path = detail::config_cache_path(options.extra_files);
  if (options.cache && !options.file) {
    if (auto s = detail::stamp_config_sources(root, options.legacy, options.extra_files))
      stamp = std::move(*s);
    if (stamp)
      if (auto cached = detail::read_config_cache(root, cache_path, *stamp))
        return std::move(*cached);
  }
  Config config;
  std::vector<std::string> errors;
  try {
    if (options.legacy) load_legacy(root, config);
    if (options.file)
      load_host_files(options.file->string(), config, errors);
    else
      load_root_files(root, config, errors, options.extra_files);
  } catch (const std::exception& e) {  // bad_alloc and the like; nothing escapes
    errors.push_back(std::string("loading configuration: ") + e.what());
  }
  if (errors.empty()) {
    // Best effort: without a cache the next load parses again, nothing worse.
    if (stamp && stamp->settled)
      if (auto written = detail::write_config_cache(root, cache_path, *stamp, config); !written)
        log_debug("configuration cache: ", written.error().message(), ", ignoring");
    return config;
  }
  std::string joined;
  for (const std::string& line : errors) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return make_error(Errc::config, std::move(joined));
}

bool valid_plugin_name(std::string_view name) {
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || name.size() > 128 || !alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '-'; });
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part.empty() || part.front() == '-') return false;
    for (const char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '-';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);

  // Integer part: digits only, so "-5s" and "+5s" are refused here.
  std::size_t pos = 0;
  std::int64_t whole = 0;
  while (pos < text.size() && is_digit(text[pos])) {
    if (__builtin_mul_overflow(whole, 10, &whole) ||
        __builtin_add_overflow(whole, text[pos] - '0', &whole))
      return std::nullopt;
    ++pos;
  }
  if (pos == 0) return std::nullopt;

  // Fraction: nine digits are finer than a millisecond of any unit; later ones are
  // checked but do not count.
  std::int64_t fraction = 0;
  std::int64_t scale = 1;
  if (pos < text.size() && text[pos] == '.') {
    const std::size_t first = ++pos;
    for (; pos < text.size() && is_digit(text[pos]); ++pos) {
      if (pos - first < 9) {
        fraction = fraction * 10 + (text[pos] - '0');
        scale *= 10;
      }
    }
    if (pos == first) return std::nullopt;
  }

  while (pos < text.size() && is_blank(text[pos])) ++pos;
  const std::string_view unit = text.substr(pos);
  std::int64_t unit_ms = 0;
  if (unit.empty() || unit == "s")
    unit_ms = 1000;
  else if (unit == "ms")
    unit_ms = 1;
  else if (unit == "m")
    unit_ms = 60 * 1000;
  else if (unit == "h")
    unit_ms = 60 * 60 * 1000;
  else
    return std::nullopt;

  std::int64_t total = 0;
  if (__builtin_mul_overflow(whole, unit_ms, &total)) return std::nullopt;
  // fraction < 1e9 and unit_ms <= 3.6e6: the product fits in 63 bits.
  if (__builtin_add_overflow(total, fraction * unit_ms / scale, &total)) return std::nullopt;
  return std::chrono::milliseconds(total);
}

}  // namespace guestkit::core
