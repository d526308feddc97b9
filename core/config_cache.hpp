#pragma once
// Private to the config loader: a compiled copy of the validated configuration in
// /run/guestkit/config.cache, so a udev event does not parse YAML.
//
// Why: yaml-cpp needs ~9 million instructions (2-3 ms here) to read the shipped,
// mostly commented guestkit.yml, several times what a cpu-add event costs otherwise,
// and every hotplug helper loads the configuration once per event. The cache holds
// the Config that loading produced, keyed by a stamp of every source (path, inode,
// size, mtime and ctime in ns of the legacy files (/etc/default/gandi, /etc/sysconfig/gandi,
// guestkit's copy /etc/guestkit/legacy/gandi), guestkit.yml, the drop-in directory
// and each drop-in; the agent's agent.yml for its own copy). Any change to a source changes the
// stamp, and the next load parses the YAML again and rewrites the cache. Like git's "racy clean"
// rule, nothing is cached while a source changed in the last two seconds, when a second change
// could land in the same timestamp tick. /run is a tmpfs: every boot starts without a cache.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core::detail {

// What the sources of the configuration look like now.
struct ConfigStamp {
  std::string text;      // one line per source; equal stamps mean equal sources
  bool settled = false;  // no source changed in the last two seconds
};
// `extra_files` are ConfigLoadOptions::extra_files (guestkit-agent's agent.yml).
Result<ConfigStamp> stamp_config_sources(const Root& root, bool legacy,
                                         const std::vector<std::string>& extra_files);

// Where the cache for this set of sources lives: config.cache for the plain set, and
// agent-config.cache for the agent's (guestkit.yml + agent.yml), so the agent and the
// helpers never overwrite each other's copy.
std::string_view config_cache_path(const std::vector<std::string>& extra_files);

// The Config the cache at `path` holds for exactly this stamp, or nullopt (no cache,
// another stamp, an unreadable or damaged file, one that is not a regular 0600 file with
// one link owned by the effective user, or a value the YAML reader would refuse: the
// caller loads the sources instead and writes a new cache over it).
std::optional<Config> read_config_cache(const Root& root, std::string_view path,
                                        const ConfigStamp& stamp);
Status write_config_cache(const Root& root, std::string_view path, const ConfigStamp& stamp,
                          const Config& config);

// The codec, one `path=value` line per setting (exposed for tests). decode fails on
// any missing, unknown or invalid line, so a cache from another schema is never used.
std::string encode_config(const Config& config);
std::optional<Config> decode_config(std::string_view text);

// The YAML reader's own checks of an allow_from item and of a plugin name (config_yaml.cpp),
// which the cache applies again to what it decodes.
bool valid_peer_entry(const std::string& text);
bool valid_plugin_entry(std::string_view name);

// guestkit.yml.d/ entries that count: *.yml, not hidden (config.cpp).
bool is_dropin_name(std::string_view name);

}  // namespace guestkit::core::detail
