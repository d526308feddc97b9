// SMBIOS type 11 OEM strings (the per-VM agent key) and the ds=nocloud seed directory
// of the kernel command line or the SMBIOS system serial.

#include <algorithm>
#include <cctype>

#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "plugins/seed/discover.hpp"

namespace guestkit::plugins::seed {
namespace {

constexpr std::string_view kKeyPrefix = "io.guestkit.agent-key=";
constexpr std::size_t kMaxRawBytes = 64u << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Whitespace-separated words; a word may be double-quoted (grub quotes ds=...;... so
// the shell-like ';' survives).
std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, any = false;
  for (char c : text) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (any) out.push_back(std::move(cur));
      cur.clear();
      any = false;
    } else {
      cur.push_back(c);
      any = true;
    }
  }
  if (any) out.push_back(std::move(cur));
  return out;
}

}  // namespace

core::Result<std::vector<std::string>> smbios_oem_strings(std::string_view raw) {
  // SMBIOS 3.x, 6.1.2/6.1.3: type (1 byte), length of the formatted area (1), handle
  // (2); type 11 then has the string count (1); the strings follow the formatted area,
  // each NUL-terminated, the set ended by one more NUL.
  if (raw.size() < 5) return core::make_error(core::Errc::bad_input, "SMBIOS structure too short");
  if (static_cast<unsigned char>(raw[0]) != 11)
    return core::make_error(core::Errc::bad_input, "not an SMBIOS type 11 structure");
  const std::size_t length = static_cast<unsigned char>(raw[1]);
  if (length < 5 || length > raw.size())
    return core::make_error(core::Errc::bad_input, "SMBIOS type 11: bad formatted length");
  const std::size_t count = static_cast<unsigned char>(raw[4]);
  std::vector<std::string> out;
  std::size_t pos = length;
  for (;;) {
    const std::size_t nul = raw.find('\0', pos);
    if (nul == std::string_view::npos)
      return core::make_error(core::Errc::bad_input, "SMBIOS type 11: unterminated string set");
    if (nul == pos) break;  // the empty string ends the set
    out.emplace_back(raw.substr(pos, nul - pos));
    pos = nul + 1;
  }
  if (out.size() != count)
    return core::make_error(core::Errc::bad_input, "SMBIOS type 11: " + std::to_string(count) +
                                                       " strings announced, " +
                                                       std::to_string(out.size()) + " present");
  return out;
}

core::Result<std::optional<std::string>> agent_key_of(const std::vector<std::string>& strings) {
  std::optional<std::string> key;
  for (const auto& s : strings) {
    if (s.compare(0, kKeyPrefix.size(), kKeyPrefix) != 0) continue;
    const std::string_view hex = std::string_view(s).substr(kKeyPrefix.size());
    const bool ok = hex.size() >= 64 && hex.size() <= 128 && hex.size() % 2 == 0 &&
                    std::all_of(hex.begin(), hex.end(), [](char c) {
                      return std::isxdigit(static_cast<unsigned char>(c));
                    });
    // The value is a secret: the message says what is wrong, never what it is.
    if (!ok)
      return core::make_error(core::Errc::bad_input,
                              "SMBIOS OEM string io.guestkit.agent-key: not 64 to 128 hex digits");
    if (key && *key != lower(hex))
      return core::make_error(core::Errc::bad_input,
                              "SMBIOS OEM strings hold two different agent keys");
    key = lower(hex);
  }
  return key;
}

core::Result<SmbiosSeed> read_smbios(const core::Root& root) {
  SmbiosSeed out;
  auto names = root.list_dir(core::paths::kSysDmiEntries);
  if (!names) return std::move(names).error();
  std::vector<std::string> strings;
  for (const auto& name : *names) {
    if (name.compare(0, 3, "11-") != 0) continue;
    auto raw = core::read_file(root, std::string(core::paths::kSysDmiEntries) + "/" + name + "/raw",
                               kMaxRawBytes);
    if (!raw) return std::move(raw).error();
    auto s = smbios_oem_strings(*raw);
    if (!s) return core::make_error(s.error().code, name + ": " + s.error().context);
    strings.insert(strings.end(), s->begin(), s->end());
  }
  auto key = agent_key_of(strings);
  if (!key) return std::move(key).error();
  out.agent_key_hex = std::move(*key);
  return out;
}

std::optional<std::string> ds_seed_dir(std::string_view text) {
  for (const auto& w : words(text)) {
    if (w.compare(0, 3, "ds=") != 0) continue;
    std::string_view rest = std::string_view(w).substr(3);
    std::vector<std::string_view> parts;
    for (std::size_t start = 0; start <= rest.size();) {
      const std::size_t end = std::min(rest.find(';', start), rest.size());
      parts.push_back(rest.substr(start, end - start));
      start = end + 1;
    }
    const std::string source = lower(parts.front());
    if (source != "nocloud" && source != "nocloud-net") continue;
    for (std::size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = parts[i];
      std::string_view url;
      if (p.substr(0, 2) == "s=")
        url = p.substr(2);
      else if (p.substr(0, 9) == "seedfrom=")
        url = p.substr(9);
      else
        continue;
      // Only a local directory: a network seed would need the network this runs before.
      if (url.substr(0, 8) != "file:///") return std::nullopt;
      std::string_view path = url.substr(7);
      if (path.find("/../") != std::string_view::npos ||
          path.substr(path.size() >= 3 ? path.size() - 3 : 0) == "/.." ||
          path.find('\0') != std::string_view::npos || path.find('%') != std::string_view::npos)
        return std::nullopt;
      auto norm = core::Root::normalize(path);
      if (!norm) return std::nullopt;
      return *norm;
    }
  }
  return std::nullopt;
}

}  // namespace guestkit::plugins::seed
