#include "plugins/iface/route_record.hpp"

#include <charconv>
#include <cstdint>
#include <sstream>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/undo_record.hpp"

namespace guestkit::plugins::iface {
namespace {

constexpr std::string_view kWhat = "record of removed default routes";

template <class T>
bool number(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// One route of the JSON record, checked as the old lines were.
std::optional<RemovedRoute> from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  RemovedRoute r;
  r.name = undo::text(j, "interface");
  const auto ifindex = j.find("ifindex");
  const auto metric = j.find("metric");
  auto gw = core::netlink::Ipv4::parse(undo::text(j, "gateway"));
  if (!check_iface_name(r.name) || ifindex == j.end() || !ifindex->is_number_integer() ||
      ifindex->get<std::int64_t>() <= 0 || ifindex->get<std::int64_t>() > INT32_MAX || !gw ||
      metric == j.end() || !metric->is_number_unsigned() ||
      metric->get<std::uint64_t>() > UINT32_MAX)
    return std::nullopt;
  r.ifindex = ifindex->get<int>();
  r.metric = metric->get<std::uint32_t>();
  r.gateway = *gw;
  return r;
}

// The record before 2026-12: "# comment" lines and one "NAME IFINDEX GATEWAY METRIC"
// line per route, read so that routes removed by an older guestkit are still given
// back; the next write makes it JSON.
core::Result<nlohmann::json> legacy_routes(std::string_view text) {
  nlohmann::json list = nlohmann::json::array();
  int line_no = 0;
  for (const auto& line : core::split_lines(text)) {
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    std::istringstream is(line);
    std::string name, index, gateway, metric, extra;
    is >> name >> index >> gateway >> metric >> extra;
    int ifindex = 0;
    std::uint32_t m = 0;
    if (!check_iface_name(name) || !number(index, ifindex) || ifindex <= 0 ||
        !core::netlink::Ipv4::parse(gateway) || !number(metric, m) || !extra.empty())
      return core::make_error(core::Errc::bad_input,
                              std::to_string(line_no) + ": not 'NAME IFINDEX GATEWAY METRIC'");
    list.push_back(
        {{"interface", name}, {"ifindex", ifindex}, {"gateway", gateway}, {"metric", m}});
  }
  return nlohmann::json{{"routes", std::move(list)}};
}

}  // namespace

std::string removed_routes_path() {
  return std::string(core::paths::kIfaceStateDir) + "/default-routes";
}

core::Result<std::vector<RemovedRoute>> read_removed_routes(const core::Root& root) {
  const std::string path = removed_routes_path();
  auto record = undo::read(root, path, kWhat, legacy_routes);
  if (!record) return std::move(record).error();
  std::vector<RemovedRoute> out;
  if (!*record) return out;
  const auto routes = (*record)->find("routes");
  if (routes == (*record)->end() || !routes->is_array())
    return core::make_error(core::Errc::bad_input, root.display(path) + ": damaged " +
                                                       std::string(kWhat) + " (no routes list)");
  std::size_t index = 0;
  for (const auto& entry : *routes) {
    auto r = from_json(entry);
    if (!r)
      return core::make_error(core::Errc::bad_input, root.display(path) + ": damaged " +
                                                         std::string(kWhat) + " (route " +
                                                         std::to_string(index) +
                                                         " is not {interface, "
                                                         "ifindex, gateway, metric})");
    out.push_back(std::move(*r));
    ++index;
  }
  return out;
}

core::Status write_removed_routes(const core::Root& root, const std::vector<RemovedRoute>& routes) {
  const std::string path = removed_routes_path();
  if (routes.empty()) {
    auto removed = undo::remove(root, path);
    if (!removed) return std::move(removed).error();
    return {};
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : routes)
    list.push_back({{"interface", r.name},
                    {"ifindex", r.ifindex},
                    {"gateway", r.gateway.str()},
                    {"metric", r.metric}});
  return undo::write(root, path, nlohmann::json{{"routes", std::move(list)}});
}

}  // namespace guestkit::plugins::iface
