#pragma once
// guestkit-boot report: the last run of every boot stage, slowest plugin first, in
// the spirit of `cloud-init analyze blame`. Reads the records the runner wrote to
// /run/guestkit/boot-STAGE.json (runner.hpp, record_json).

#include <iosfwd>

#include "core/root.hpp"

namespace guestkit::plugins {

// Prints the report; false when no stage has a record (nothing has run since boot)
// or a record cannot be read.
bool print_boot_report(std::ostream& os, const core::Root& root);

}  // namespace guestkit::plugins
