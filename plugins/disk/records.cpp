#include "plugins/disk/records.hpp"

#include <sys/sysmacros.h>

#include "core/files.hpp"
#include "core/paths.hpp"
#include "core/udev_event.hpp"
#include "plugins/undo_record.hpp"

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
  auto record = undo::read(root, *path, "guestkit disk record");
  if (!record) return std::move(record).error();
  if (!*record) return std::optional<DiskRecord>{};
  const nlohmann::json& j = **record;
  DiskRecord r;
  r.name = undo::text(j, "name");
  r.devname = undo::text(j, "devname");
  r.devno = undo::text(j, "devno");
  r.fs_devno = undo::text(j, "fs_devno");
  r.fstype = undo::text(j, "fstype");
  r.label = undo::text(j, "label");
  r.uuid = undo::text(j, "uuid");
  r.mountpoint = undo::text(j, "mountpoint");
  r.options = undo::text(j, "options");
  r.since = j.contains("since") && j["since"].is_number_integer() ? j["since"].get<std::int64_t>() : 0;
  if (r.name != name || r.mountpoint.empty() || r.mountpoint.front() != '/')
    return core::make_error(core::Errc::bad_input, root.display(*path) + ": inconsistent disk record");
  return std::optional<DiskRecord>(std::move(r));
}

core::Status write_record(const core::Root& root, const DiskRecord& r) {
  auto path = record_path(r.name);
  if (!path) return std::move(path).error();
  const nlohmann::json j{{"name", r.name},       {"devname", r.devname},
                         {"devno", r.devno},     {"fs_devno", r.fs_devno},
                         {"fstype", r.fstype},   {"label", r.label},
                         {"uuid", r.uuid},       {"mountpoint", r.mountpoint},
                         {"options", r.options}, {"since", r.since}};
  return undo::write(root, *path, j);
}

core::Status remove_record(const core::Root& root, const std::string& name) {
  auto path = record_path(name);
  if (!path) return std::move(path).error();
  auto removed = undo::remove(root, *path);
  if (!removed) return std::move(removed).error();
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
