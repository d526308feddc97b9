#pragma once
// Storage drivers for a seed medium that udev's coldplug has not loaded yet: a NoCloud
// cdrom on a `pc` machine's IDE controller appears only once ata_piix, then sr_mod,
// are loaded, which udev does when it gets to those devices' events, often long after
// the bootstrap stage has started (the e2e guest: sr0 26 s after 00-apply-seed had
// looked). Waiting for udev's whole coldplug costs every boot without a seed as much
// (25 s measured there), so 00-apply-seed, when it finds no seed at once, loads the
// drivers of the storage devices still without one itself, as udev would (modprobe
// -b by the device's modalias, blacklists respected), and looks again.

#include <chrono>
#include <string>
#include <vector>

#include "core/root.hpp"

namespace guestkit::plugins::seed {

struct StorageDrivers {
  std::vector<std::string> loaded;    // "0000:00:01.1 (pci:v00008086d00007010...)"
  std::vector<std::string> problems;  // modprobe failures, for the log
  std::chrono::milliseconds took{0};
};

// Live system only (`host` is "/"). Devices looked at, in this order, each pass:
// PCI mass-storage controllers (class 0x01....), virtio block and SCSI devices, SCSI
// disks and cdroms (types 0, 5, 7, 14) without a bound driver; passes repeat (a
// controller's driver brings its SCSI devices) until one loads nothing, at most 4,
// each modprobe at most `timeout`.
StorageDrivers load_storage_drivers(const core::Root& host, std::chrono::milliseconds timeout);

}  // namespace guestkit::plugins::seed
