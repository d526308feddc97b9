#pragma once
// User and group names of the *guest* (its /etc/passwd and /etc/group under the Root),
// never the host's NSS: an image built with --root has its own users.

#include <sys/types.h>

#include <string>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

// "root" -> 0, "1001" -> 1001. Unknown names are Errc::bad_input naming the file.
Result<uid_t> lookup_uid(const Root& root, const std::string& name_or_id);
Result<gid_t> lookup_gid(const Root& root, const std::string& name_or_id);

}  // namespace guestkit::core
