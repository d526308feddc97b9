// guestkit-disk: data disks mounted at <disk.root>/<label> when attached.

#include "hotplug/driver.hpp"
#include "plugins/disk/disk.hpp"

namespace gk = guestkit;

int main(int argc, char** argv, char** envp) {
  gk::hotplug::HotplugSpec spec;
  spec.tool = {"guestkit-disk",
               "[OPTION]... [ACTION DEVICE | --coldplug | --status]",
               "Mount data disks at <disk.root>/<label> when attached, clean up when detached.",
               "Actions: add, change (the disk grew: grow its filesystem), remove (also offline).\n"
               "DEVICE is a kernel name (vdb, vdb1) or /dev/NAME. Without ACTION DEVICE the\n"
               "event is read from the udev environment (ACTION, DEVPATH, SUBSYSTEM=block).\n"
               "\n"
               "A disk labelled LABEL mounts at /srv/LABEL (disk.root), an unlabelled one at\n"
               "/srv/NAME; a second disk with the same label gets LABEL_2. Characters that\n"
               "could change the path ('/', '\\', control bytes, a leading '.') are written\n"
               "as \\xNN. Records: /run/guestkit/disks/NAME. Hooks (in hooks_dir):\n"
               "post-disk-attach DEV FSTYPE MOUNTPOINT, pre-disk-detach DEV MOUNTPOINT; a\n"
               "failing hook makes the exit status 1 (the disk stays mounted after add, the\n"
               "detach goes on after remove). remove unmounts only a mount whose device\n"
               "number is the record's, never a filesystem mounted at that path since.\n"
               "\n"
               "Examples:\n"
               "  guestkit-disk add vdb\n"
               "  guestkit-disk --status\n"
               "  guestkit-disk --root /mnt/image --coldplug",
               {}};
  spec.builtins = guestkit::plugins::disk_plugins();
  spec.subsystem = "block";
  spec.lock_prefix = "disk";
  spec.triggers = {{"add", "disk-add"}, {"change", "disk-change"}, {"remove", "disk-remove"},
                   {"offline", "disk-remove"}};
  spec.coldplug_events = [](gk::core::Context& ctx) {
    return gk::plugins::disk::coldplug_events(ctx);
  };
  spec.status = gk::plugins::disk::status;
  return gk::hotplug::hotplug_main(spec, argc, argv, envp);
}
