#include "core/instance_id.hpp"

#include <algorithm>

#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::core {
namespace {

constexpr std::size_t kIdFileLimit = 4096;

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return text;
}

// The first line, without surrounding blanks.
std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  const auto b = line.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return line.substr(b, line.find_last_not_of(" \t\r") - b + 1);
}

std::optional<std::string> file_line(const Root& root, const char* path) {
  auto text = read_file_if_exists(root, path, kIdFileLimit);
  if (!text || !*text) return std::nullopt;
  return first_line(**text);
}

bool usable(const std::string& id) {
  return valid_instance_id(id) && !is_placeholder_instance_id(id);
}

}  // namespace

std::string_view instance_id_source_name(InstanceIdSource source) {
  switch (source) {
    case InstanceIdSource::file:
      return paths::kAgentInstanceIdFile;
    case InstanceIdSource::kernel:
      return "guestkit.instance_id= (kernel command line)";
    case InstanceIdSource::dmi:
      return paths::kDmiProductUuid;
    case InstanceIdSource::machine_id:
      return paths::kMachineId;
  }
  return "?";
}

bool valid_instance_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && alnum(id[0]) &&
         std::all_of(id.begin(), id.end(),
                     [](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool is_placeholder_instance_id(std::string_view id) {
  const std::string l = lower(std::string(id));
  if (l == "uninitialized" || l == "03000200-0400-0500-0006-000700080009") return true;
  // All zeros or all ones, with or without the UUID's dashes (machine-id has none).
  std::string digits;
  for (char c : l)
    if (c != '-') digits += c;
  return !digits.empty() &&
         (std::all_of(digits.begin(), digits.end(), [](char c) { return c == '0'; }) ||
          std::all_of(digits.begin(), digits.end(), [](char c) { return c == 'f'; }));
}

std::optional<InstanceId> find_instance_id(const Root& root) {
  if (auto id = file_line(root, paths::kAgentInstanceIdFile); id && usable(*id))
    return InstanceId{*id, InstanceIdSource::file};
  if (auto id = kernel_arg(root, "guestkit.instance_id"); id && usable(*id))
    return InstanceId{*id, InstanceIdSource::kernel};
  if (auto id = file_line(root, paths::kDmiProductUuid); id && usable(lower(*id)))
    return InstanceId{lower(*id), InstanceIdSource::dmi};
  if (auto id = file_line(root, paths::kMachineId); id && usable(*id))
    return InstanceId{*id, InstanceIdSource::machine_id};
  return std::nullopt;
}

std::optional<std::string> kernel_arg(const Root& root, std::string_view key) {
  auto text = read_file_if_exists(root, paths::kProcCmdline, 64 << 10);
  if (!text || !*text) return std::nullopt;
  std::optional<std::string> found;
  const std::string& line = **text;
  std::size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\n' || line[pos] == '\t')) ++pos;
    std::size_t end = pos;
    while (end < line.size() && line[end] != ' ' && line[end] != '\n' && line[end] != '\t') ++end;
    std::string_view word(line.data() + pos, end - pos);
    if (word.size() > key.size() && word.substr(0, key.size()) == key && word[key.size()] == '=')
      found = std::string(word.substr(key.size() + 1));
    pos = end;
  }
  return found;
}

}  // namespace guestkit::core
