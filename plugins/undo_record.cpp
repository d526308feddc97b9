// Undo records: see undo_record.hpp.

#include "plugins/undo_record.hpp"

#include <unistd.h>

#include <cerrno>

#include "core/files.hpp"

namespace guestkit::plugins::undo {

core::Result<std::optional<nlohmann::json>> read(const core::Root& root, const std::string& guest,
                                                 std::string_view what, const Legacy& legacy) {
  auto content = core::read_file_if_exists(root, guest, kMaxRecord, core::Follow::never);
  if (!content) return std::move(content).error();
  if (!*content) return std::optional<nlohmann::json>{};
  const std::string& raw = **content;
  const auto damaged = [&](std::string_view why) {
    return core::make_error(
        core::Errc::bad_input,
        root.display(guest) + ": damaged " + std::string(what) + " (" + std::string(why) + ")");
  };
  const auto first = raw.find_first_not_of(" \t\r\n");
  // A JSON record is an object: it starts with '{'. Anything else is an older format,
  // or damage.
  if (first != std::string::npos && raw[first] == '{') {
    auto j = nlohmann::json::parse(raw, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return damaged("not a JSON object");
    return std::optional<nlohmann::json>(std::move(j));
  }
  if (legacy) {
    auto j = legacy(raw);
    if (!j)
      return core::make_error(core::Errc::bad_input, root.display(guest) + ":" + j.error().context);
    if (!j->is_object()) return damaged("not an object");
    return std::optional<nlohmann::json>(std::move(j).value());
  }
  return damaged(first == std::string::npos ? "empty" : "not a JSON object");
}

core::Status write(const core::Root& root, const std::string& guest, const nlohmann::json& record) {
  core::WriteOptions wo;
  wo.mode = 0644;
  wo.create_parents = true;
  wo.parent_mode = 0755;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run: gone at reboot anyway, like what the record describes
  return core::write_file_atomic(
      root, guest, record.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", wo);
}

core::Result<bool> remove(const core::Root& root, const std::string& guest) {
  auto parent = root.open_parent(guest, core::Follow::never);
  if (!parent) {
    if (parent.error().code == std::errc::no_such_file_or_directory) return false;
    return std::move(parent).error();
  }
  if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) == 0) return true;
  if (errno == ENOENT) return false;
  return core::errno_error("remove " + root.display(guest));
}

std::string text(const nlohmann::json& record, const char* key) {
  const auto it = record.find(key);
  return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace guestkit::plugins::undo
