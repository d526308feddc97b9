// guestkit.yml: schema, strict validation with positions, and the load order.

#include "core/config.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "core/paths.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
using namespace std::chrono_literals;

namespace {

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// Every setting, one per line: compares whole configs with a readable diff.
std::string describe(const gc::Config& c) {
  std::string out;
  const auto list = [](const std::vector<std::string>& items) {
    std::string s = "[";
    for (const auto& item : items) s += item + ";";
    return s + "]";
  };
  out += "plugins.timeout=" + std::to_string(c.plugins.timeout.count()) + "\n";
  for (const auto& [name, on] : c.plugins.enabled)
    out += "plugins.enabled." + name + "=" + (on ? "true" : "false") + "\n";
  out += "hooks_dir=" + c.hooks_dir + " legacy_hooks_dir=" + c.legacy_hooks_dir + "\n";
  out += "disk.match=" + list(c.disk.match) + " ignore=" + list(c.disk.ignore) +
         " root=" + c.disk.root + " mount_options=" + c.disk.mount_options +
         " owner=" + c.disk.owner + " group=" + c.disk.group +
         " mode=" + std::to_string(c.disk.mode) + " fsck=" + (c.disk.fsck ? "true" : "false") +
         " grow=" + (c.disk.grow ? "true" : "false") +
         " tool_timeout=" + std::to_string(c.disk.tool_timeout.count()) + "\n";
  out += "iface.match=" + list(c.iface.match) + " no_dhcp=" + list(c.iface.no_dhcp) +
         " multiqueue=" + (c.iface.multiqueue ? "true" : "false") + " backend=" + c.iface.backend +
         " dhcp_client=" + c.iface.dhcp_client +
         " dhcp_timeout=" + std::to_string(c.iface.dhcp_timeout.count()) +
         " default_route=" + c.iface.default_route +
         " route_metric=" + std::to_string(c.iface.route_metric) +
         " secondary_sysctls=" + (c.iface.secondary_sysctls ? "true" : "false") + "\n";
  out += "motd.text=" + c.motd.text + "\n";
  out += "cpu.online_timeout=" + std::to_string(c.cpu.online_timeout.count()) + "\n";
  out += "memory.online_policy=" + std::string(gc::policy_name(c.memory.online_policy)) +
         " movable_ratio=" + std::to_string(c.memory.movable_ratio) +
         " ignore_auto_online=" + (c.memory.ignore_auto_online ? "true" : "false") + "\n";
  out += "boot.plugin_timeout=" + std::to_string(c.boot.plugin_timeout.count()) +
         " root_device=" + c.boot.root_device + "\n";
  out += "swap.device=" + c.swap.device + " timezone.zone=" + c.timezone.zone +
         " sshd.permit_root_login=" + c.sshd.permit_root_login +
         " ext_checks=" + std::to_string(c.ext_checks.max_mount_count) + "/" +
         std::to_string(c.ext_checks.interval_days) +
         " postboot.timeout=" + std::to_string(c.postboot.timeout.count()) + "\n";
  out += "seed.device=" + c.seed.device + " default_user=" + c.seed.default_user +
         " load_drivers=" + (c.seed.load_drivers ? "true" : "false") + "\n";
  for (const char* f :
       {"motd",      "disk",     "iface",        "timezone",   "sysctl", "sshd",    "console",
        "cron",      "hostname", "nameserver",   "network",    "cpu",    "memory",  "swap",
        "grow_root", "identity", "system_files", "ext_checks", "seed",   "postboot"})
    out += std::string(f) + ".enabled=" + (c.feature_enabled(f) ? "true" : "false") + "\n";
  return out;
}

gc::Config yaml_ok(const std::string& text, gc::Config config = {}) {
  std::vector<std::string> errors;
  const bool ok = gc::apply_yaml(config, text, "guestkit.yml", errors);
  INFO(join(errors));
  REQUIRE(ok);
  REQUIRE(errors.empty());
  return config;
}

std::vector<std::string> yaml_errors(const std::string& text) {
  gc::Config config;
  std::vector<std::string> errors;
  CHECK_FALSE(gc::apply_yaml(config, text, "guestkit.yml", errors));
  CHECK(describe(config) == describe(gc::Config{}));  // a bad file changes nothing
  return errors;
}

using Lines = std::vector<std::string>;

// The defaults are checked against what guestkit.yml(5) tells admins, not restated from
// config.hpp: every "*key* (type, default *VALUE*)" of the manual page (and each
// switch-only feature's "enabled: true") is written into a YAML file, which is applied
// over a configuration where every setting differs; the result must be exactly the
// built-in configuration. A default changed in the code or in the page alone fails here.
std::string man_defaults_yaml(int& keys) {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/config/man/guestkit.yml.5.scd.in");
  REQUIRE(in);
  const auto unescape = [](std::string v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '\\' && i + 1 < v.size()) ++i;
      out += v[i];
    }
    return out;
  };
  const auto value_of = [&](std::string v) {  // "*120s*", "empty", "*[\"vd\\*\"]*"
    if (v == "empty") return std::string("\"\"");
    REQUIRE(v.size() >= 2);
    REQUIRE(v.front() == '*');
    REQUIRE(v.back() == '*');
    return unescape(v.substr(1, v.size() - 2));
  };
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::map<std::string, std::string> top;
  const std::regex entry(R"(((?:\*[a-z_.]+\*(?:, )?)+) \(([^()]*?)default ([^)]*)\))");
  const std::regex key_re(R"(\*([a-z_.]+)\*)");
  std::string line, heading;
  bool in_options = false;
  while (std::getline(in, line)) {
    if (line.starts_with("# ")) in_options = line == "# OPTIONS";
    if (!in_options) continue;
    if (line.starts_with("## ")) heading = line.substr(3);
    if (heading == "agent") continue;  // agent.yml(5)'s keys
    if (heading == "Switch-only features" && std::regex_match(line, key_re)) {
      sections[line.substr(1, line.size() - 2)]["enabled"] = "true";
      ++keys;
      continue;
    }
    if (!line.starts_with("*")) continue;
    for (std::sregex_iterator m(line.begin(), line.end(), entry), e; m != e; ++m) {
      std::vector<std::string> names;
      const std::string names_text = (*m)[1];
      for (std::sregex_iterator k(names_text.begin(), names_text.end(), key_re); k != e; ++k)
        names.push_back((*k)[1]);
      std::vector<std::string> values;
      std::string rest = (*m)[3];
      if (names.size() == 1) {
        values.push_back(rest);
      } else {  // "*disk.owner*, *disk.group* (..., default *root*, *root*)"
        for (std::size_t at; (at = rest.find(", ")) != std::string::npos; rest.erase(0, at + 2))
          values.push_back(rest.substr(0, at));
        values.push_back(rest);
      }
      REQUIRE(values.size() == names.size());
      for (std::size_t i = 0; i < names.size(); ++i) {
        const auto dot = names[i].find('.');
        if (dot == std::string::npos)
          top[names[i]] = value_of(values[i]);
        else
          sections[names[i].substr(0, dot)][names[i].substr(dot + 1)] = value_of(values[i]);
        ++keys;
      }
    }
  }
  std::string yaml;
  for (const auto& [key, value] : top) yaml += key + ": " + value + "\n";
  for (const auto& [section, keys_values] : sections) {
    yaml += section + ":\n";
    for (const auto& [key, value] : keys_values) yaml += "  " + key + ": " + value + "\n";
  }
  return yaml;
}

}  // namespace

TEST_CASE("config defaults are the ones guestkit.yml(5) documents", "[config]") {
  int keys = 0;
  const std::string documented = man_defaults_yaml(keys);
  INFO(documented);
  CHECK(keys > 50);  // the page was read (59 keys and switches in 0.2)
  // Every setting different from its default first, so a key the page leaves out, or
  // a documented value the reader ignores, shows as a difference.
  auto c = yaml_ok(R"(plugins: {timeout: 1.5m, enabled: {13-set-motd: false}}
hooks_dir: /opt/hooks
legacy_hooks_dir: /opt/legacy
disk: {enabled: false, match: [xvd*], ignore: [sda], root: /data, mount_options: ro,
       owner: "0", group: "1001", mode: 0775, fsck: false, grow: false, tool_timeout: 30s}
iface: {enabled: false, match: [eth0], no_dhcp: [eth1], multiqueue: false, backend: networkd,
        dhcp_client: udhcpc, dhcp_timeout: 5s, default_route: keep-all, route_metric: 100,
        secondary_sysctls: false}
motd: {enabled: false, text: Welcome}
sysctl: false
console: false
cron: false
hostname: false
nameserver: false
network: false
cpu: {enabled: false, online_timeout: 750ms}
memory: {enabled: false, online_policy: online_kernel, movable_ratio: 2.5,
         ignore_auto_online: true}
boot: {plugin_timeout: 5s, root_device: /dev/vda1}
swap: {enabled: false, device: /dev/vdz}
grow_root: false
identity: false
system_files: false
timezone: {enabled: false, zone: Europe/Paris}
sshd: {enabled: false, permit_root_login: "no"}
ext_checks: {enabled: false, max_mount_count: 20, interval_days: 30}
seed: {enabled: false, device: /dev/sr1, default_user: admin, load_drivers: false}
postboot: {enabled: false, timeout: 1h}
)");
  REQUIRE(describe(c) != describe(gc::Config{}));
  c = yaml_ok(documented, c);
  // plugins.enabled is a map: the documented {} adds nothing, so this one entry stays.
  CHECK(c.plugins.enabled == std::map<std::string, bool>{{"13-set-motd", false}});
  c.plugins.enabled.clear();
  CHECK(describe(c) == describe(gc::Config{}));

  // No file at all is the built-in configuration too.
  auto tmp = guestkit::test::TempDir();
  auto loaded = gc::load_config(tmp.root());
  REQUIRE(loaded.ok());
  CHECK(describe(*loaded) == describe(gc::Config{}));
  CHECK(loaded->sources.empty());
  CHECK(loaded->warnings.empty());
  CHECK(gc::Config{}.feature_enabled("no-such-feature"));  // only known switches turn off
}

TEST_CASE("config every key round-trips", "[config]") {
  const auto c = yaml_ok(R"(plugins:
  timeout: 1.5m
  enabled: {13-set-motd: false, 20-Swap_x: true}
hooks_dir: /opt/hooks
disk:
  enabled: false
  match: [xvd*]
  ignore: ["sda", 'vdz']
  root: /data
  mount_options: ro,noexec
  owner: "0"
  group: "1001"
  mode: 0775
  fsck: false
  grow: false
  tool_timeout: 30s
iface:
  enabled: false
  match:
    - eth0
  no_dhcp: [eth1, eth2]
  multiqueue: false
  backend: networkd
  dhcp_client: udhcpc
  dhcp_timeout: 5s
  default_route: keep-all
  route_metric: 100
  secondary_sysctls: false
motd:
  enabled: false
  text: |
    Welcome
sysctl: {enabled: false}
console: {enabled: false}
cron: {enabled: false}
hostname: {enabled: false}
nameserver: {enabled: false}
network: {enabled: false}
cpu:
  enabled: false
  online_timeout: 750ms
memory:
  enabled: false
  online_policy: online_kernel
  movable_ratio: 2.5
  ignore_auto_online: true
boot: {plugin_timeout: 5s, root_device: /dev/vda1}
swap: {enabled: false, device: /dev/vdz}
grow_root: false
identity: false
system_files: false
timezone: {enabled: false, zone: Europe/Paris}
sshd: {enabled: false, permit_root_login: "no"}
ext_checks: {enabled: false, max_mount_count: 20, interval_days: 30}
postboot: {enabled: false, timeout: 1h}
)");
  CHECK(c.boot.plugin_timeout == 5s);
  CHECK(c.boot.root_device == "/dev/vda1");
  CHECK(c.swap.device == "/dev/vdz");
  CHECK(c.timezone.zone == "Europe/Paris");
  CHECK(c.sshd.permit_root_login == "no");
  CHECK(c.ext_checks.max_mount_count == 20);
  CHECK(c.ext_checks.interval_days == 30);
  CHECK(c.postboot.timeout == 1h);
  CHECK(c.plugins.timeout == 90s);
  CHECK(c.plugins.enabled ==
        std::map<std::string, bool>{{"13-set-motd", false}, {"20-Swap_x", true}});
  CHECK_FALSE(c.plugin_enabled("13-set-motd"));
  CHECK(c.plugin_enabled("20-Swap_x"));
  CHECK(c.hooks_dir == "/opt/hooks");
  CHECK(c.disk.match == Lines{"xvd*"});
  CHECK(c.disk.ignore == Lines{"sda", "vdz"});
  CHECK(c.disk.root == "/data");
  CHECK(c.disk.mount_options == "ro,noexec");
  CHECK(c.disk.owner == "0");
  CHECK(c.disk.group == "1001");
  CHECK(c.disk.mode == 0775);
  CHECK_FALSE(c.disk.fsck);
  CHECK_FALSE(c.disk.grow);
  CHECK(c.disk.tool_timeout == 30s);
  CHECK(c.iface.match == Lines{"eth0"});
  CHECK(c.iface.no_dhcp == Lines{"eth1", "eth2"});
  CHECK_FALSE(c.iface.multiqueue);
  CHECK(c.iface.backend == "networkd");
  CHECK(c.iface.dhcp_client == "udhcpc");
  CHECK(c.iface.dhcp_timeout == 5s);
  CHECK(c.iface.default_route == "keep-all");
  CHECK(c.iface.route_metric == 100);
  CHECK_FALSE(c.iface.secondary_sysctls);
  CHECK(c.motd.text == "Welcome\n");
  CHECK(c.cpu.online_timeout == 750ms);
  CHECK(c.memory.online_policy == gc::MemoryPolicy::online_kernel);
  CHECK(c.memory.movable_ratio == 2.5);
  CHECK(c.memory.ignore_auto_online);
  for (const char* f : {"motd", "disk", "iface", "timezone", "sysctl", "sshd", "console", "cron",
                        "hostname", "nameserver", "network", "cpu", "memory", "swap", "grow_root",
                        "identity", "system_files", "ext_checks", "postboot"}) {
    INFO(f);
    CHECK_FALSE(c.feature_enabled(f));
  }
}

TEST_CASE("config feature sections accept a bare boolean", "[config]") {
  for (const char* f : {"motd", "disk", "iface", "timezone", "sysctl", "sshd", "console", "cron",
                        "hostname", "nameserver", "network", "cpu", "memory", "swap", "grow_root",
                        "identity", "system_files", "ext_checks", "postboot"}) {
    INFO(f);
    const auto off = yaml_ok(std::string(f) + ": false\n");
    CHECK_FALSE(off.feature_enabled(f));
    CHECK(yaml_ok(std::string(f) + ": true\n", off).feature_enabled(f));
    CHECK(yaml_ok(std::string(f) + ": False\n").feature_enabled(f) == false);
  }
  // A map without `enabled` leaves the switch as it was.
  auto c = yaml_ok("motd: false\n");
  c = yaml_ok("motd: {text: hi}\n", c);
  CHECK_FALSE(c.motd.enabled);
  CHECK(c.motd.text == "hi");
}

TEST_CASE("config only keys present change: maps merge, lists replace", "[config]") {
  auto c = yaml_ok("plugins: {enabled: {a: false, b: false}}\ndisk: {match: [a, b], root: /x}\n");
  c = yaml_ok("plugins: {enabled: {b: true}}\ndisk: {match: [c]}\n", c);
  CHECK(c.plugins.enabled == std::map<std::string, bool>{{"a", false}, {"b", true}});
  CHECK(c.disk.match == Lines{"c"});
  CHECK(c.disk.root == "/x");
  CHECK(c.disk.mount_options == "rw,nosuid,nodev,noatime");
  // Empty sections, empty documents and comments change nothing.
  for (const char* text : {"", "# nothing\n", "---\n", "disk:\n  # root: /y\n", "~\n"}) {
    INFO(text);
    CHECK(describe(yaml_ok(text, c)) == describe(c));
  }
}

TEST_CASE("config unknown key names the full path and position", "[config]") {
  CHECK(yaml_errors("disk:\n  enabled: true\n  rooot: /srv\n") ==
        Lines{"guestkit.yml:3:3: unknown key 'disk.rooot'"});
  CHECK(yaml_errors("motd: true\ndsik: false\n") == Lines{"guestkit.yml:2:1: unknown key 'dsik'"});
  CHECK(yaml_errors("timezone: {enabled: true, zon: UTC}\n") ==
        Lines{"guestkit.yml:1:27: unknown key 'timezone.zon'"});
}

TEST_CASE("config wrong types are reported with their position", "[config]") {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      // booleans: YAML 1.2 only
      {"motd:\n  enabled: yes\n",
       "guestkit.yml:2:12: 'motd.enabled' must be true or false, not 'yes'"},
      {"iface:\n  multiqueue: 1\n",
       "guestkit.yml:2:15: 'iface.multiqueue' must be true or false, not '1'"},
      {"iface:\n  multiqueue: \"true\"\n",
       "guestkit.yml:2:15: 'iface.multiqueue' must be true or false, not a quoted string"},
      {"motd: no\n", "guestkit.yml:1:7: 'motd' must be true, false or a map, not 'no'"},
      {"sshd: [true]\n", "guestkit.yml:1:7: 'sshd' must be true, false or a map"},
      {"plugins:\n  enabled:\n    13-set-motd: off\n",
       "guestkit.yml:3:18: 'plugins.enabled.13-set-motd' must be true or false, not 'off'"},
      // strings
      {"disk:\n  mount_options: [rw]\n",
       "guestkit.yml:2:18: 'disk.mount_options' must be a string"},
      {"motd:\n  text: true\n", "guestkit.yml:2:9: 'motd.text' must be a string"},
      {"motd:\n  text:\n", "guestkit.yml:2:3: 'motd.text' must be a string"},
      // file modes
      {"disk:\n  mode: rwx\n",
       "guestkit.yml:2:9: 'disk.mode' must be an octal file mode like \"0755\""},
      {"disk:\n  mode: 0789\n",
       "guestkit.yml:2:9: 'disk.mode' must be an octal file mode like \"0755\""},
      {"disk:\n  mode: 17777\n", "guestkit.yml:2:9: 'disk.mode' must be at most 07777"},
      // lists
      {"disk:\n  match: vd*\n", "guestkit.yml:2:10: 'disk.match' must be a list of strings"},
      {"iface:\n  no_dhcp: [eth0, [eth1]]\n",
       "guestkit.yml:2:19: 'iface.no_dhcp' must be a list of strings"},
      {"disk:\n  ignore: {a: b}\n", "guestkit.yml:2:11: 'disk.ignore' must be a list of strings"},
      // choices and integers
      {"iface:\n  backend: wicked\n",
       "guestkit.yml:2:12: 'iface.backend' must be one of auto, networkd, networkmanager, "
       "ifupdown, none"},
      {"iface:\n  default_route: [first-public]\n",
       "guestkit.yml:2:18: 'iface.default_route' must be one of first-public, keep-all"},
      {"iface:\n  dhcp_client: true\n",
       "guestkit.yml:2:16: 'iface.dhcp_client' must be one of auto, dhclient, dhcpcd, udhcpc"},
      {"iface:\n  route_metric: -1\n",
       "guestkit.yml:2:17: 'iface.route_metric' must be an integer in 0..1073741824"},
      {"iface:\n  route_metric: 1e3\n",
       "guestkit.yml:2:17: 'iface.route_metric' must be an integer in 0..1073741824"},
      {"iface:\n  route_metric: \"5\"\n",
       "guestkit.yml:2:17: 'iface.route_metric' must be an integer in 0..1073741824"},
      {"iface:\n  route_metric: 99999999999\n",
       "guestkit.yml:2:17: 'iface.route_metric' must be an integer in 0..1073741824"},
      {"iface:\n  dhcp_timeout: 0s\n",
       "guestkit.yml:2:17: 'iface.dhcp_timeout' must be longer than 0"},
      // durations
      {"plugins:\n  timeout: soon\n",
       "guestkit.yml:2:12: 'plugins.timeout' must be a duration like 30s, 500ms or 2m"},
      {"plugins:\n  timeout: -5s\n",
       "guestkit.yml:2:12: 'plugins.timeout' must be a duration like 30s, 500ms or 2m"},
      {"plugins:\n  timeout: 0\n", "guestkit.yml:2:12: 'plugins.timeout' must be longer than 0"},
      // maps
      {"plugins: 5\n", "guestkit.yml:1:10: 'plugins' must be a map"},
      {"plugins:\n  enabled: [a]\n",
       "guestkit.yml:2:12: 'plugins.enabled' must be a map of plugin names to true or false"},
      {"plugins:\n  enabled:\n    bad name: false\n",
       "guestkit.yml:3:5: invalid plugin name 'bad name' in 'plugins.enabled'"},
      {"plugins:\n  enabled:\n    -x: false\n",
       "guestkit.yml:3:5: invalid plugin name '-x' in 'plugins.enabled'"},
      {"disk:\n  [a]: 1\n", "guestkit.yml:2:3: keys of 'disk' must be strings"},
      // absolute paths
      {"disk:\n  root: srv\n",
       "guestkit.yml:2:9: 'disk.root' must be an absolute path (starting with '/')"},
      {"hooks_dir: /etc/../tmp\n",
       "guestkit.yml:1:12: 'hooks_dir' must not contain '..' components"},
      {"hooks_dir: /etc/guestkit/..\n",
       "guestkit.yml:1:12: 'hooks_dir' must not contain '..' components"},
      {"disk:\n  root: \"/srv\\0x\"\n",
       "guestkit.yml:2:9: 'disk.root' must not contain a NUL byte"},
      {"disk:\n  root: [/srv]\n", "guestkit.yml:2:9: 'disk.root' must be an absolute path"},
      // one of a set of names
      {"memory:\n  online_policy: movable\n",
       "guestkit.yml:2:18: 'memory.online_policy' must be one of auto, online, online_movable, "
       "online_kernel"},
      {"memory:\n  online_policy: [auto]\n",
       "guestkit.yml:2:18: 'memory.online_policy' must be one of auto, online, online_movable, "
       "online_kernel"},
      {"memory: {online_policy: Auto}\n",
       "guestkit.yml:1:25: 'memory.online_policy' must be one of auto, online, online_movable, "
       "online_kernel"},
      // ratios: plain digits with an optional fraction
      {"memory:\n  movable_ratio: -1\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  movable_ratio: \"3\"\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  movable_ratio: 1e3\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  movable_ratio: .inf\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  movable_ratio: 3.\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  movable_ratio: true\n",
       "guestkit.yml:2:18: 'memory.movable_ratio' must be a number of 0 or more, like 3 or 2.5"},
      {"memory:\n  ignore_auto_online: yes\n",
       "guestkit.yml:2:23: 'memory.ignore_auto_online' must be true or false, not 'yes'"},
      {"cpu:\n  online_timeout: 0ms\n",
       "guestkit.yml:2:19: 'cpu.online_timeout' must be longer than 0"},
      {"cpu: {online_timeout: later, enabled: true}\n",
       "guestkit.yml:1:23: 'cpu.online_timeout' must be a duration like 30s, 500ms or 2m"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    CHECK(yaml_errors(c.yaml) == Lines{c.error});
  }
  // ".." inside a name is not a component.
  CHECK(yaml_ok("disk: {root: /srv/..data}\n").disk.root == "/srv/..data");
}

TEST_CASE("config memory policies and ratios", "[config]") {
  for (const auto& [name, policy] : gc::kMemoryPolicyNames) {
    INFO(name);
    CHECK(yaml_ok("memory: {online_policy: " + std::string(name) + "}\n").memory.online_policy ==
          policy);
    CHECK(yaml_ok("memory: {online_policy: '" + std::string(name) + "'}\n").memory.online_policy ==
          policy);
    CHECK(gc::policy_name(policy) == name);
  }
  CHECK(yaml_ok("memory: {movable_ratio: 0}\n").memory.movable_ratio == 0.0);
  CHECK(yaml_ok("memory: {movable_ratio: 10}\n").memory.movable_ratio == 10.0);
  CHECK(yaml_ok("memory: {movable_ratio: 0.25}\n").memory.movable_ratio == 0.25);
  // A drop-in changing the policy keeps the ratio set earlier.
  auto c = yaml_ok("memory: {movable_ratio: 1.5}\n");
  c = yaml_ok("memory: {online_policy: online_movable}\n", c);
  CHECK(c.memory.movable_ratio == 1.5);
  CHECK(c.memory.online_policy == gc::MemoryPolicy::online_movable);
  CHECK(yaml_ok("cpu: {online_timeout: 500ms}\n").cpu.online_timeout == 500ms);
}

TEST_CASE("config duplicate keys are errors", "[config]") {
  CHECK(yaml_errors("disk:\n  root: /a\n  match: []\n  root: /b\n") ==
        Lines{"guestkit.yml:4:3: duplicate key 'disk.root'"});
  CHECK(yaml_errors("motd: true\nmotd: false\n") ==
        Lines{"guestkit.yml:2:1: duplicate key 'motd'"});
}

TEST_CASE("config syntax errors and document shape", "[config]") {
  CHECK(yaml_errors("disk:\n  match: [vd*\n") ==
        Lines{"guestkit.yml:3:1: end of sequence flow not found"});
  CHECK(yaml_errors("disk: root: /x\n") == Lines{"guestkit.yml:1:11: illegal map value"});
  CHECK(yaml_errors("- disk\n") ==
        Lines{"guestkit.yml:1:1: the top level must be a map of settings"});
  CHECK(yaml_errors("hello\n") ==
        Lines{"guestkit.yml:1:1: the top level must be a map of settings"});
  CHECK(yaml_errors("motd: true\n---\nmotd: false\n") ==
        Lines{"guestkit.yml:2:1: only one YAML document is allowed per file"});
  // yaml-cpp alone would ignore what follows the first node, or loop forever on it.
  CHECK(yaml_errors(",\n") == Lines{"guestkit.yml:1:1: unexpected ','"});
  CHECK(yaml_errors("{disk: {root: /x}}\n,\n") == Lines{"guestkit.yml:2:1: unexpected ','"});
  CHECK(yaml_errors("[a],\n") == Lines{"guestkit.yml:1:4: unexpected ','"});
}

TEST_CASE("config reports every error of a document, in order", "[config]") {
  CHECK(yaml_errors(R"(disk:
  rooot: /srv
  match: vd*
motd: maybe
plugins:
  timeout: 3 weeks
)") == Lines{
           "guestkit.yml:2:3: unknown key 'disk.rooot'",
           "guestkit.yml:3:10: 'disk.match' must be a list of strings",
           "guestkit.yml:4:7: 'motd' must be true, false or a map, not 'maybe'",
           "guestkit.yml:6:12: 'plugins.timeout' must be a duration like 30s, 500ms or 2m",
       });
}

TEST_CASE("config shipped guestkit.yml is exactly the defaults", "[config]") {
  auto tmp = guestkit::test::TempDir();
  auto loaded =
      gc::load_config(tmp.root(), {std::string(GUESTKIT_SOURCE_DIR) + "/config/guestkit.yml"});
  INFO((loaded.ok() ? "" : loaded.error().context));
  REQUIRE(loaded.ok());
  CHECK(describe(*loaded) == describe(gc::Config{}));
  CHECK(loaded->plugins.enabled.empty());
}

// The shipped file sets nothing (every setting is a comment, so the legacy flags and
// the admin's drop-ins keep their effect), and what it shows are the real defaults:
// with the '#' of every setting line removed it loads to exactly the built-in values.
// A setting line is "#key:" or "#  key:" (explanations are "# text" and "  # text").
TEST_CASE("config shipped guestkit.yml, uncommented, is exactly the defaults", "[config]") {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/config/guestkit.yml");
  std::string uncommented, line;
  int settings = 0;
  while (std::getline(in, line)) {
    if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#') {
      line.erase(0, 1);
      ++settings;
    } else if (line.starts_with("#  ") && line.size() > 3 && line[3] != ' ' && line[3] != '#') {
      line.erase(0, 1);
      ++settings;
    } else {
      CHECK((line.empty() || line.find_first_not_of(' ') == line.find('#')));
    }
    uncommented += line + "\n";
  }
  CHECK(settings > 60);
  auto tmp = guestkit::test::TempDir();
  const auto file = tmp.write("guestkit.yml", uncommented);
  auto loaded = gc::load_config(tmp.root(), {file});
  INFO((loaded.ok() ? "" : loaded.error().context));
  REQUIRE(loaded.ok());
  CHECK(describe(*loaded) == describe(gc::Config{}));
  // Every key of the schema is shown: a key left out of the file would be a default
  // nobody can read about.
  for (const std::string key : {"plugins:", "hooks_dir:", "legacy_hooks_dir:", "disk:", "iface:",
                                "motd:", "network:", "postboot:"})
    CHECK(uncommented.find("\n" + key) != std::string::npos);
}

TEST_CASE("config drop-ins apply in bytewise name order", "[config]") {
  auto tmp = guestkit::test::TempDir();
  tmp.write("etc/guestkit/guestkit.yml", "disk: {root: /main, mount_options: ro}\nmotd: false\n");
  tmp.write("etc/guestkit/guestkit.yml.d/20-b.yml", "disk: {root: /b}\n");
  tmp.write("etc/guestkit/guestkit.yml.d/10-a.yml", "disk: {root: /a, match: [a]}\n");
  tmp.write("etc/guestkit/guestkit.yml.d/9-c.yml", "disk: {root: /c}\n");
  // Not drop-ins: a broken file under these names must not matter.
  for (const char* ignored : {"x.yml.dpkg-old", ".hidden.yml", "README", "x.yaml", "x.yml~"})
    tmp.write(std::string("etc/guestkit/guestkit.yml.d/") + ignored, "{{{ not yaml");
  const auto root = tmp.root();
  auto loaded = gc::load_config(root);
  INFO((loaded.ok() ? "" : loaded.error().context));
  REQUIRE(loaded.ok());
  CHECK(loaded->disk.root == "/c");
  CHECK(loaded->disk.match == Lines{"a"});
  CHECK(loaded->disk.mount_options == "ro");
  CHECK_FALSE(loaded->motd.enabled);
  CHECK(loaded->sources == Lines{root.display(gc::paths::kConfigFile),
                                 root.display("/etc/guestkit/guestkit.yml.d/10-a.yml"),
                                 root.display("/etc/guestkit/guestkit.yml.d/20-b.yml"),
                                 root.display("/etc/guestkit/guestkit.yml.d/9-c.yml")});
}

TEST_CASE("config errors from every file come back together", "[config]") {
  auto tmp = guestkit::test::TempDir();
  tmp.write("etc/guestkit/guestkit.yml", "motd: yes\n");
  tmp.write("etc/guestkit/guestkit.yml.d/50-x.yml", "disk:\n  rooot: /x\n");
  const auto root = tmp.root();
  auto loaded = gc::load_config(root);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == gc::Errc::config);
  CHECK(loaded.error().context == root.display(gc::paths::kConfigFile) +
                                      ":1:7: 'motd' must be true, false or a map, not 'yes'\n" +
                                      root.display("/etc/guestkit/guestkit.yml.d/50-x.yml") +
                                      ":2:3: unknown key 'disk.rooot'");
}

TEST_CASE("config --config FILE and FILE.d", "[config]") {
  auto tmp = guestkit::test::TempDir();
  tmp.write("guest/etc/guestkit/guestkit.yml", "motd: false\n");  // not read with --config
  tmp.write("guest/etc/guestkit/guestkit.yml.d/1.yml", "cron: false\n");
  const auto file = tmp.write("host/my.yml", "disk: {root: /host}\n").string();
  tmp.write("host/my.yml.d/b.yml", "sshd: false\n");
  tmp.write("host/my.yml.d/a.yml", "disk: {root: /dropin}\nsshd: true\n");
  tmp.write("host/my.yml.d/c.yml.bak", "nonsense: [\n");
  tmp.write("guest/.keep", "");
  auto root = gc::Root::open(tmp.path() / "guest");
  REQUIRE(root.ok());

  auto loaded = gc::load_config(*root, {file});
  INFO((loaded.ok() ? "" : loaded.error().context));
  REQUIRE(loaded.ok());
  CHECK(loaded->motd.enabled);
  CHECK(loaded->cron.enabled);
  CHECK(loaded->disk.root == "/dropin");
  CHECK_FALSE(loaded->sshd.enabled);
  CHECK(loaded->sources == Lines{file, file + ".d/a.yml", file + ".d/b.yml"});

  tmp.write("host/bad.yml", "disk:\n  root: relative\n");
  auto bad = gc::load_config(*root, {(tmp.path() / "host/bad.yml").string()});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().context ==
        (tmp.path() / "host/bad.yml").string() +
            ":2:9: 'disk.root' must be an absolute path (starting with '/')");

  const std::string missing = (tmp.path() / "host/missing.yml").string();
  auto none = gc::load_config(*root, {missing});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == gc::Errc::config);
  CHECK(none.error().context == missing + ": No such file or directory");
}

TEST_CASE("config files over 1 MiB are refused", "[config]") {
  auto tmp = guestkit::test::TempDir();
  tmp.write("etc/guestkit/guestkit.yml", "# " + std::string(1u << 20, 'x') + "\n");
  const auto root = tmp.root();
  auto loaded = gc::load_config(root);
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().context == root.display(gc::paths::kConfigFile) + ": File too large");
}

TEST_CASE("config boot stage values are validated", "[config]") {
  CHECK(yaml_errors("swap: {device: vdb}\n") ==
        Lines{"guestkit.yml:1:16: 'swap.device' must be empty or a device path like /dev/vdb2"});
  CHECK(yaml_errors("boot: {root_device: /dev/../etc/shadow}\n").size() == 1);
  CHECK(yaml_errors("timezone: {zone: ../../etc/shadow}\n") ==
        Lines{"guestkit.yml:1:18: 'timezone.zone' must be empty or a time zone name like "
              "Europe/Paris"});
  CHECK(yaml_errors("timezone: {zone: Europe//Paris}\n").size() == 1);
  CHECK(yaml_errors("sshd: {permit_root_login: maybe}\n").size() == 1);
  CHECK(yaml_errors("ext_checks: {max_mount_count: 0}\n").size() == 1);
  CHECK(yaml_errors("boot: {plugin_timeout: 0s}\n").size() == 1);
  CHECK(gc::valid_zone_name("America/Argentina/Salta"));
  CHECK(gc::valid_zone_name("Etc/GMT+5"));
  CHECK_FALSE(gc::valid_zone_name("Europe/.."));
  CHECK_FALSE(gc::valid_zone_name("/UTC"));
  CHECK_FALSE(gc::valid_zone_name("UTC/"));
}

TEST_CASE("config: a plugin switch follows the one plugin-name rule, 128 bytes at most",
          "[config]") {
  // plugins.d ignores a file whose name is over 128 bytes: a switch for such a name
  // could never reach a plugin, so it is refused like any other invalid name.
  const std::string name(129, 'a');
  const auto errors = yaml_errors("plugins:\n  enabled:\n    " + name + ": false\n");
  REQUIRE(errors.size() == 1);
  // (The quoted name is shortened in the message.)
  CHECK(errors[0].rfind("guestkit.yml:3:5: invalid plugin name 'aaaa", 0) == 0);
  CHECK(errors[0].find("' in 'plugins.enabled'") != std::string::npos);
  CHECK(gc::valid_plugin_name(std::string(128, 'a')));
  CHECK_FALSE(gc::valid_plugin_name(name));
}
