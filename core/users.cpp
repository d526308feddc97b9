#include "core/users.hpp"

#include <charconv>

#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::core {
namespace {

// Field 3 of the line whose field 1 is `name` in a passwd(5)/group(5) file.
Result<unsigned> lookup(const Root& root, const char* file, const std::string& name) {
  unsigned id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (!name.empty() && ec == std::errc() && end == name.data() + name.size()) return id;
  if (name.empty() || name.find(':') != std::string::npos || name.find('\n') != std::string::npos)
    return make_error(Errc::bad_input, "invalid user or group name '" + name + "'");
  auto text = read_file(root, file, 16u << 20);
  if (!text) return std::move(text).error();
  for (const auto& line : split_lines(*text)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0) continue;
    // name:password:ID:...
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    auto third = line.find(':', second + 1);
    if (second == std::string::npos) break;
    std::string field = line.substr(second + 1, third == std::string::npos ? std::string::npos : third - second - 1);
    auto [e2, ec2] = std::from_chars(field.data(), field.data() + field.size(), id);
    if (ec2 == std::errc() && e2 == field.data() + field.size() && !field.empty()) return id;
    break;
  }
  return make_error(Errc::bad_input, "'" + name + "' is not in " + root.display(file));
}

}  // namespace

Result<uid_t> lookup_uid(const Root& root, const std::string& name_or_id) {
  auto r = lookup(root, paths::kPasswd, name_or_id);
  if (!r) return std::move(r).error();
  return static_cast<uid_t>(*r);
}

Result<gid_t> lookup_gid(const Root& root, const std::string& name_or_id) {
  auto r = lookup(root, paths::kGroup, name_or_id);
  if (!r) return std::move(r).error();
  return static_cast<gid_t>(*r);
}

}  // namespace guestkit::core
