#pragma once
// Storage drivers for a seed medium that udev's coldplug has not loaded yet: a NoCloud
// cdrom on a `pc` machine's IDE controller appears only once ata_piix, then sr_mod,
// are loaded, which udev does when it gets to those devices' events, often long after
// the bootstrap stage has started (the e2e guest: sr0 26 s after 00-apply-seed had
// looked). Waiting for udev's whole coldplug costs every boot without a seed as much
// (25 s measured there), so 00-apply-seed, when it finds no seed at once, loads the
// drivers of the storage devices still without one itself, as udev would (modprobe
// -b by the device's modalias, blacklists respected), and looks again.
//
// kmod is asked, not guessed from exit codes: `modprobe -b --show-depends` (which
// loads nothing) says whether the modalias names any module (none is normal: no driver
// for that device), whether it is built in, or blacklisted (then it names no step;
// `modprobe -R`, which lists blacklisted modules too, names them for the log). Only
// then is it loaded, and a load that fails is a refusal with modprobe's own reason (an
// install command such as /bin/false, a missing capability, a rejected signature),
// which the caller must see: a sandbox without CAP_SYS_MODULE once made
// e2e.seed-nocloud miss its cdrom with nothing said.

#include <chrono>
#include <string>
#include <vector>

#include "core/root.hpp"

namespace guestkit::plugins::seed {

struct StorageDrivers {
  std::vector<std::string> loaded;  // "0000:00:01.1 (pci:v00008086d00007010...)"
  // Drivers kmod has for a device that were not loaded, each with why:
  // "0000:00:01.1 (pci:v...): ata_piix: blacklisted", "0000:00:01.1 (pci:v...):
  // modprobe exited with status 1: modprobe: ERROR: could not insert 'ata_piix':
  // Operation not permitted"
  std::vector<std::string> refused;
  std::vector<std::string> problems;  // modprobe could not run or timed out, for the log
  std::chrono::milliseconds took{0};
};

// How modprobe is run: the command and the arguments every call starts with.
// {"modprobe"} on a live system; a test adds -C CONFIG -d DIR -S RELEASE to point the
// real modprobe at a tree of its own.
struct Modprobe {
  std::vector<std::string> argv{"modprobe"};
};

// Live system only (`host` is "/"; a test's tree stands for it with its own Modprobe).
// Devices looked at, in this order, each pass: PCI mass-storage controllers (class
// 0x01....), virtio block and SCSI devices, SCSI disks and cdroms (types 0, 5, 7, 14)
// without a bound driver; passes repeat (a controller's driver brings its SCSI
// devices) until one loads nothing, at most 4, each modprobe at most `timeout`. A load
// counts when modprobe succeeded, unless kmod's only steps were install commands and
// the device is still without a driver (`install X /bin/true` disables a module).
StorageDrivers load_storage_drivers(const core::Root& host, std::chrono::milliseconds timeout,
                                    const Modprobe& modprobe = {});

}  // namespace guestkit::plugins::seed
