// The whitelist of each seed layout and the name checks (layout.hpp).

#include "plugins/seed/layout.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "plugins/plugin.hpp"
#include "plugins/seed/discover.hpp"

namespace guestkit::plugins::seed::detail {
namespace {

constexpr std::array<std::string_view, 4> kNoCloud{"meta-data", "user-data", "vendor-data",
                                                   "network-config"};
constexpr std::array<std::string_view, 5> kConfigDrive{
    "openstack/latest/meta_data.json", "openstack/latest/user_data",
    "openstack/latest/vendor_data.json", "openstack/latest/vendor_data2.json",
    "openstack/latest/network_data.json"};


// A kernel release as uname -r spells it: "6.1.0-13-amd64".
bool valid_release(std::string_view r) {
  if (r.empty() || r.size() > 64 || !std::isalnum(static_cast<unsigned char>(r[0]))) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == '+' || c == '~';
  });
}

// "<dir>/<release>.tar.gz" or ".tar.xz" directly under `dir`.
bool is_modules_tarball(std::string_view name, std::string_view dir) {
  if (name.substr(0, dir.size()) != dir) return false;
  std::string_view rest = name.substr(dir.size());
  for (std::string_view ext : {".tar.gz", ".tar.xz"}) {
    if (rest.size() > ext.size() && rest.substr(rest.size() - ext.size()) == ext)
      return valid_release(rest.substr(0, rest.size() - ext.size()));
  }
  return false;
}

// "guestkit/postboot/NN-name": two digits, '-', then a plugin name's characters.
bool is_postboot_script(std::string_view name) {
  constexpr std::string_view dir = "guestkit/postboot/";
  if (name.substr(0, dir.size()) != dir) return false;
  std::string_view leaf = name.substr(dir.size());
  return leaf.size() > 3 && std::isdigit(static_cast<unsigned char>(leaf[0])) &&
         std::isdigit(static_cast<unsigned char>(leaf[1])) && leaf[2] == '-' &&
         valid_plugin_name(leaf);
}

}  // namespace

std::string clean_name(std::string_view raw) {
  while (raw.substr(0, 2) == "./") raw.remove_prefix(2);
  while (raw.size() > 1 && raw.back() == '/') raw.remove_suffix(1);
  return std::string(raw);
}

std::string unsafe_name(std::string_view name) {
  if (name.empty() || name == ".") return "an empty name";
  if (name.front() == '/') return "an absolute name";
  if (!core::valid_utf8(name)) return "a name that is not UTF-8";
  if (std::any_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      }))
    return "a control character in the name";
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, end - start);
    if (part == "..") return "a name with '..'";
    if (part.empty() || part == ".") return "an empty or '.' name component";
    start = end + 1;
  }
  return "";
}

std::optional<std::size_t> member_cap(SourceKind kind, std::string_view name) {
  switch (kind) {
    case SourceKind::nocloud:
      if (std::find(kNoCloud.begin(), kNoCloud.end(), name) != kNoCloud.end()) return kMaxFileBytes;
      return std::nullopt;
    case SourceKind::configdrive:
      if (std::find(kConfigDrive.begin(), kConfigDrive.end(), name) != kConfigDrive.end())
        return kMaxFileBytes;
      return std::nullopt;
    case SourceKind::swap_guestkit:
      if (name == "guestkit/order.json") return kMaxFileBytes;
      if (name == "guestkit/agent.key") return kMaxKeyBytes;
      if (is_postboot_script(name)) return kMaxFileBytes;
      if (is_modules_tarball(name, "guestkit/modules/")) return kMaxModulesBytes;
      return std::nullopt;
    case SourceKind::swap_gandi:
      if (name == "gandi/config" || name == "gandi/init") return kMaxFileBytes;
      if (is_modules_tarball(name, "gandi/modules/")) return kMaxModulesBytes;
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<SourceKind> swap_layout_of(std::string_view name) {
  if (name == "guestkit" || name.substr(0, 9) == "guestkit/") return SourceKind::swap_guestkit;
  if (name == "gandi" || name.substr(0, 6) == "gandi/") return SourceKind::swap_gandi;
  return std::nullopt;
}

std::vector<std::string> fixed_members(SourceKind kind) {
  std::vector<std::string> out;
  if (kind == SourceKind::nocloud) out.assign(kNoCloud.begin(), kNoCloud.end());
  if (kind == SourceKind::configdrive) out.assign(kConfigDrive.begin(), kConfigDrive.end());
  if (kind == SourceKind::swap_guestkit) out = {"guestkit/order.json", "guestkit/agent.key"};
  if (kind == SourceKind::swap_gandi) out = {"gandi/config", "gandi/init"};
  return out;
}


void Collector::refuse(std::string_view name, std::string_view why) {
  if (refused_++ == kMaxRefused) out_.refused.push_back("...: more refusals not listed");
  if (refused_ > kMaxRefused) return;
  out_.refused.push_back(core::sanitize_for_log(name) + ": " + std::string(why) + ", refused");
}

bool Collector::fits(std::size_t bytes) const {
  return bytes <= kMaxTotalBytes - total_;
}

void Collector::add(const std::string& name, std::string content) {
  total_ += content.size();
  seen_.insert(name);
  out_.files[name] = std::move(content);
}

}  // namespace guestkit::plugins::seed::detail
