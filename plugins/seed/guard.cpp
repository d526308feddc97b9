// guestkit-disk's refusal of the platform's seed media (discover.hpp). A file of its
// own: the udev helper that calls it must not pull in the readers and libarchive.

#include <string>

#include "plugins/seed/discover.hpp"

namespace guestkit::plugins::seed {

std::string seed_device_reason(std::string_view fs_label, std::string_view part_name) {
  if (fs_label == "cidata" || fs_label == "CIDATA")
    return "a NoCloud seed (label " + std::string(fs_label) + ")";
  if (fs_label == "config-2" || fs_label == "CONFIG-2")
    return "a ConfigDrive seed (label " + std::string(fs_label) + ")";
  if (part_name == "swap" || part_name == "guestkitswap" || part_name == "gandiswap")
    return "the swap partition (" + std::string(part_name) + ")";
  return "";
}

}  // namespace guestkit::plugins::seed
