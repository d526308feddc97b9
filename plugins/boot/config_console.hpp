#pragma once
// 01-config-console's pure parts, for tests.

#include <string>
#include <vector>

namespace guestkit::plugins::boot {

// Console names from /proc/consoles text that can carry a getty: ttyN, ttySN,
// ttyAMAN, hvcN, xvcN ("tty0", the current VT, becomes tty1). Others are dropped.
std::vector<std::string> getty_consoles(const std::string& proc_consoles);

// Adds an inittab respawn line for each console no active line runs a getty on.
// True if changed.
bool ensure_inittab_gettys(std::vector<std::string>& lines,
                           const std::vector<std::string>& consoles);

}  // namespace guestkit::plugins::boot
