#include "agent/resync.hpp"

#include <nlohmann/json.hpp>

namespace guestkit::agent {

bool valid_sync_token(std::string_view token) {
  if (token.empty() || token.size() > kMaxSyncToken) return false;
  for (const char c : token)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  return true;
}

std::string resync_start(std::string_view token) {
  return std::string(1, kResyncByte) +
         nlohmann::json{{"guestkit_sync", std::string(token)}}.dump() + "\n";
}

std::string resync_end() {
  return std::string(1, kResyncByte) + "\n";
}

SyncLine parse_sync_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return {SyncLine::Kind::end, {}};
  if (line.size() > kMaxSyncLine) return {};
  const auto value = nlohmann::json::parse(line, nullptr, false);
  if (!value.is_object() || value.size() != 1 || !value.contains("guestkit_sync") ||
      !value["guestkit_sync"].is_string())
    return {};
  auto token = value["guestkit_sync"].get<std::string>();
  if (!valid_sync_token(token)) return {};
  return {SyncLine::Kind::start, std::move(token)};
}

}  // namespace guestkit::agent
