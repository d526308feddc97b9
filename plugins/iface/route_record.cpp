#include "plugins/iface/route_record.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <sstream>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {
namespace {

template <class T>
bool number(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace

std::string removed_routes_path() {
  return std::string(core::paths::kIfaceStateDir) + "/default-routes";
}

core::Result<std::vector<RemovedRoute>> read_removed_routes(const core::Root& root) {
  const std::string path = removed_routes_path();
  auto text = core::read_file_if_exists(root, path, 64 * 1024, core::Follow::never);
  if (!text) return std::move(text).error();
  std::vector<RemovedRoute> out;
  if (!*text) return out;
  int line_no = 0;
  for (const auto& line : core::split_lines(**text)) {
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    std::istringstream is(line);
    std::string name, index, gateway, metric, extra;
    is >> name >> index >> gateway >> metric >> extra;
    RemovedRoute r;
    auto gw = core::netlink::Ipv4::parse(gateway);
    if (!check_iface_name(name) || !number(index, r.ifindex) || r.ifindex <= 0 || !gw ||
        !number(metric, r.metric) || !extra.empty())
      return core::make_error(core::Errc::bad_input, root.display(path) + ":" +
                                                         std::to_string(line_no) +
                                                         ": not 'NAME IFINDEX GATEWAY METRIC'");
    r.name = name;
    r.gateway = *gw;
    out.push_back(std::move(r));
  }
  return out;
}

core::Status write_removed_routes(const core::Root& root, const std::vector<RemovedRoute>& routes) {
  const std::string path = removed_routes_path();
  if (routes.empty()) {
    auto parent = root.open_parent(path, core::Follow::never);
    if (!parent) {
      if (parent.error().code == std::errc::no_such_file_or_directory) return {};
      return std::move(parent).error();
    }
    if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) < 0 && errno != ENOENT)
      return core::errno_error("remove " + root.display(path));
    return {};
  }
  std::string text =
      "# guestkit-iface: default routes the route policy removed (NAME IFINDEX GATEWAY "
      "METRIC),\n# given back when no handled interface has one any more\n";
  for (const auto& r : routes)
    text += r.name + " " + std::to_string(r.ifindex) + " " + r.gateway.str() + " " +
            std::to_string(r.metric) + "\n";
  core::WriteOptions wo;
  wo.create_parents = true;
  wo.parent_mode = 0755;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run: gone at reboot, like the routes it describes
  return core::write_file_atomic(root, path, text, wo);
}

}  // namespace guestkit::plugins::iface
