#pragma once
// Undo records: what a hotplug plugin set up, kept under /run/guestkit so that the
// remove event (or prepare-detach, or guestkit status) knows what to take down after
// the device itself is gone: /run/guestkit/disks/<name> (disk) and
// /run/guestkit/iface/<if>.state (iface). One format for all of them: a JSON object
// (nlohmann-json), replaced atomically (a reader sees the old record or the new one,
// never half), read back size-capped, without following a link, and refused with a
// message naming the file when damaged. A record of an older guestkit in another
// format is read through the caller's `legacy` converter and rewritten as JSON by the
// next write.

#include <cstddef>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::undo {

// Records are small; anything larger is not one.
inline constexpr std::size_t kMaxRecord = 64 * 1024;

// Text of a record in an older format -> the same facts as a JSON object. When the
// text is not such a record either, an Error whose context says where and why, after
// the file's name: "3: not KEY=VALUE" becomes "<file>:3: not KEY=VALUE".
using Legacy = std::function<core::Result<nlohmann::json>(std::string_view text)>;

// std::nullopt when there is no record. Errc::bad_input naming the file when it is
// neither a JSON object ("<file>: damaged <what> (<why>)") nor, with `legacy`, an
// old record (the converter's reason).
core::Result<std::optional<nlohmann::json>> read(const core::Root& root, const std::string& guest,
                                                 std::string_view what,
                                                 const Legacy& legacy = nullptr);

// Replaces the record atomically (mode 0644, parents created 0755, never through a
// link; not fsynced: /run is gone at reboot anyway, like what it describes). Strings
// that are not valid UTF-8 (a disk label) are written with U+FFFD, never thrown on.
core::Status write(const core::Root& root, const std::string& guest, const nlohmann::json& record);

// Removes the record; true when there was one.
core::Result<bool> remove(const core::Root& root, const std::string& guest);

// A string member of a record; "" when absent or of another type.
std::string text(const nlohmann::json& record, const char* key);

}  // namespace guestkit::plugins::undo
