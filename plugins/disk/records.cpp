#include "plugins/disk/records.hpp"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "core/udev_event.hpp"

namespace guestkit::plugins::disk {
namespace {

core::Result<std::string> record_path(const std::string& name) {
  auto checked = core::check_kernel_name(name);
  if (!checked) return std::move(checked).error();
  return std::string(core::paths::kDisksDir) + "/" + *checked;
}

}  // namespace

std::string devno_text(dev_t devno) {
  return std::to_string(major(devno)) + ":" + std::to_string(minor(devno));
}

bool record_mount(const DiskRecord& r, dev_t mount_devno, const std::string& mount_source) {
  const std::string d = devno_text(mount_devno);
  if (!r.devno.empty() && d == r.devno) return true;
  // An anonymous number alone could be reused by a filesystem mounted later from
  // another device: the source must be the recorded device node too.
  return !r.fs_devno.empty() && d == r.fs_devno && mount_source == r.devname;
}

core::Result<std::optional<DiskRecord>> read_record(const core::Root& root, const std::string& name) {
  auto path = record_path(name);
  if (!path) return std::move(path).error();
  auto text = core::read_file_if_exists(root, *path, 64 * 1024, core::Follow::never);
  if (!text) return std::move(text).error();
  if (!*text) return std::optional<DiskRecord>{};
  auto j = nlohmann::json::parse(**text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return core::make_error(core::Errc::bad_input, root.display(*path) + ": not a guestkit disk record");
  DiskRecord r;
  auto s = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : ""; };
  r.name = s("name");
  r.devname = s("devname");
  r.devno = s("devno");
  r.fs_devno = s("fs_devno");
  r.fstype = s("fstype");
  r.label = s("label");
  r.uuid = s("uuid");
  r.mountpoint = s("mountpoint");
  r.options = s("options");
  r.since = j.contains("since") && j["since"].is_number_integer() ? j["since"].get<std::int64_t>() : 0;
  if (r.name != name || r.mountpoint.empty() || r.mountpoint.front() != '/')
    return core::make_error(core::Errc::bad_input, root.display(*path) + ": inconsistent disk record");
  return std::optional<DiskRecord>(std::move(r));
}

core::Status write_record(const core::Root& root, const DiskRecord& r) {
  auto path = record_path(r.name);
  if (!path) return std::move(path).error();
  nlohmann::json j{{"name", r.name},         {"devname", r.devname},       {"devno", r.devno},
                   {"fs_devno", r.fs_devno}, {"fstype", r.fstype},         {"label", r.label},
                   {"uuid", r.uuid},         {"mountpoint", r.mountpoint}, {"options", r.options},
                   {"since", r.since}};
  core::WriteOptions wo;
  wo.mode = 0644;
  wo.create_parents = true;
  wo.follow = core::Follow::never;
  wo.durable = false;  // /run: gone at reboot anyway, like the mounts it describes
  // dump() with 'replace' keeps a label that is not valid UTF-8 from throwing.
  return core::write_file_atomic(root, *path, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", wo);
}

core::Status remove_record(const core::Root& root, const std::string& name) {
  auto path = record_path(name);
  if (!path) return std::move(path).error();
  auto parent = root.open_parent(*path, core::Follow::never);
  if (!parent) {
    if (parent.error().code == std::errc::no_such_file_or_directory) return {};
    return std::move(parent).error();
  }
  if (::unlinkat(parent->dir.get(), parent->leaf.c_str(), 0) < 0 && errno != ENOENT)
    return core::errno_error("remove " + root.display(*path));
  return {};
}

core::Result<std::vector<DiskRecord>> list_records(const core::Root& root, std::vector<std::string>* problems) {
  auto names = root.list_dir(core::paths::kDisksDir, core::Follow::never);
  if (!names) return std::move(names).error();
  std::vector<DiskRecord> out;
  for (const auto& n : *names) {
    if (n.front() == '.') continue;  // temp files of an atomic write in progress
    auto r = read_record(root, n);
    if (r && *r) out.push_back(std::move(**r));
    else if (!r && problems) problems->push_back(r.error().message());
  }
  return out;
}

}  // namespace guestkit::plugins::disk
