// The shipped udev rules and systemd units (config/udev, config/systemd) as built:
// the disk rule matches exactly what guestkit-disk handles by default, so the rule
// and the code cannot drift apart, and template instances are named the way
// systemd-escape would name them.

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "plugins/seed/discover.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kBuilt = fs::path(GUESTKIT_BINARY_DIR) / "config";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Rule lines without comments and blank lines.
std::vector<std::string> rule_lines(const fs::path& path) {
  std::istringstream in(slurp(path));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] != '#') out.push_back(line);
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string current;
  for (const char c : text + sep) {
    if (c == sep) {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  return out;
}

// The alternatives of the first `KEY OP "a|b|c"` match in the rules.
std::vector<std::string> match_values(const std::vector<std::string>& lines, const std::string& key,
                                      const std::string& op) {
  const std::regex re(std::regex_replace(key, std::regex(R"([{}])"), R"(\$&)") + op + "\"([^\"]*)\"");
  for (const auto& line : lines) {
    std::smatch m;
    if (std::regex_search(line, m, re)) return split(m[1].str(), '|');
  }
  FAIL("no " << key << op << " match in the rules");
  return {};
}

std::string run_systemd_escape(const std::string& name) {
  const std::string command = "systemd-escape '" + name + "'";
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int status = ::pclose(p);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("the disk rule matches the kernel names of disk.match's default", "[native][udev-rules]") {
  const auto lines = rule_lines(kBuilt / "udev/86-guestkit-disk.rules");
  const auto kernel = match_values(lines, "KERNEL", "!=");
  CHECK(kernel == guestkit::core::DiskConfig{}.match);
}

TEST_CASE("the disk rule leaves out exactly the seed labels guestkit-disk refuses", "[native][udev-rules]") {
  const auto lines = rule_lines(kBuilt / "udev/86-guestkit-disk.rules");
  const auto labels = match_values(lines, "ENV{ID_FS_LABEL}", "==");
  REQUIRE(!labels.empty());
  for (const auto& label : labels) {
    INFO(label);
    CHECK(!guestkit::plugins::seed::seed_device_reason(label, "").empty());
  }
  for (const std::string label : {"cidata", "CIDATA", "config-2", "CONFIG-2", "data", "swap"}) {
    const bool refused = !guestkit::plugins::seed::seed_device_reason(label, "").empty();
    const bool in_rule = std::find(labels.begin(), labels.end(), label) != labels.end();
    INFO(label);
    CHECK(refused == in_rule);
  }
}

TEST_CASE("the disk rule skips empty devices and hands disks to systemd by SYSTEMD_WANTS", "[native][udev-rules]") {
  const auto lines = rule_lines(kBuilt / "udev/86-guestkit-disk.rules");
  const std::string text = slurp(kBuilt / "udev/86-guestkit-disk.rules");
  CHECK(match_values(lines, "ATTR{size}", "==") == std::vector<std::string>{"0"});
  CHECK(text.find(R"(TAG+="systemd", ENV{SYSTEMD_WANTS}+="guestkit-disk@%k.service")") != std::string::npos);
  // No workaround for names systemd would unescape: the KERNEL match admits none.
  CHECK(text.find(R"(KERNEL=="*-*")") == std::string::npos);
  CHECK(text.find("systemctl --no-block start guestkit-disk") == std::string::npos);
}

TEST_CASE("kernel names the disk rule admits are their own systemd-escaped instance", "[native][udev-rules]") {
  // Kernel names of these drivers: letters and digits only (sd_format_disk_name,
  // virtblk_name_format, xen-blkfront, nvme_alloc_ns). For each glob, a name of that
  // form must come back from systemd-escape unchanged, or dev-%i.device and
  // guestkit-disk@%k.service would not name the device.
  const auto lines = rule_lines(kBuilt / "udev/86-guestkit-disk.rules");
  for (const auto& glob : match_values(lines, "KERNEL", "!=")) {
    std::string name;
    for (const char c : glob) name += c == '*' ? std::string("a0") : std::string(1, c);
    INFO(glob << " -> " << name);
    CHECK(run_systemd_escape(name) == name);
  }
  CHECK(run_systemd_escape("dm-0") != "dm-0");  // what the rule keeps out would not be
}

TEST_CASE("template units pass their instance as written, and name their manual page", "[native][units]") {
  for (const auto& entry : fs::directory_iterator(kBuilt / "systemd")) {
    const std::string text = slurp(entry.path());
    INFO(entry.path().filename().string());
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      // %I would unescape '-' in an interface name (eth-ext) into '/'.
      if (line.rfind("Exec", 0) == 0) CHECK(line.find("%I") == std::string::npos);
    }
    CHECK(text.find("Documentation=man:guestkit") != std::string::npos);
  }
}

TEST_CASE("every service unit sets each sandboxing setting or says why not", "[native][units]") {
  // The settings issue 19 names, and the others systemd-analyze security weighs most.
  const std::vector<std::string> settings{
      "NoNewPrivileges",        "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
      "RestrictAddressFamilies", "SystemCallArchitectures", "LockPersonality",     "MemoryDenyWriteExecute",
      "RestrictRealtime",       "PrivateTmp",            "CapabilityBoundingSet", "ProtectSystem",
      "ProtectHome",            "PrivateDevices",        "ProtectKernelLogs",     "ProtectClock",
      "ProtectHostname",        "RestrictNamespaces",    "RestrictSUIDSGID",      "SystemCallFilter",
      "PrivateNetwork",         "ProtectProc"};
  std::size_t units = 0;
  for (const auto& entry : fs::directory_iterator(kBuilt / "systemd")) {
    if (entry.path().extension() != ".service") continue;
    ++units;
    std::istringstream in(slurp(entry.path()));
    std::string set, explained;
    for (std::string line; std::getline(in, line);) (line.rfind('#', 0) == 0 ? explained : set) += line + "\n";
    for (const auto& s : settings) {
      INFO(entry.path().filename().string() << ": " << s);
      const bool is_set = std::regex_search(set, std::regex("(^|\n)" + s + "="));
      // A comment naming "Setting=" with its reason, in the unit's list of left-out settings.
      const bool is_explained = explained.find(s + "=") != std::string::npos;
      CHECK((is_set || is_explained));
    }
  }
  CHECK(units >= 8);
}
