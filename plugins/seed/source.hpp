#pragma once
// What a platform seed holds, read without mounting anything: the files of one seed
// source as bytes, each read size-capped, plus every member that was refused and why.
// Produced by plugins/seed/source.cpp (discovery and readers: in-swap tar, NoCloud,
// ConfigDrive, SMBIOS OEM strings); consumed by plugins/seed/normalise.cpp, which turns
// it into the agent's provision order (agent/PROTOCOL.md).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace guestkit::plugins::seed {

enum class SourceKind {
  swap_guestkit,  // in-swap tar at 512 KiB, layout guestkit/
  swap_gandi,     // in-swap tar at 512 KiB, the old platform's layout gandi/
  nocloud,        // cidata/CIDATA filesystem, ds=nocloud;s=file://, /var/lib/cloud/seed/nocloud
  configdrive,    // config-2/CONFIG-2 (OpenStack)
};

struct SeedFiles {
  SourceKind kind{};
  std::string origin;  // "/dev/vdb", "/var/lib/cloud/seed/nocloud/", for logs and seed.json
  // Relative member path inside the seed ("meta-data", "user-data",
  // "openstack/latest/meta_data.json", "guestkit/order.json", "guestkit/postboot/10-x",
  // "gandi/config", "gandi/init", "guestkit/modules/6.1.0-13-amd64.tar.xz") -> content.
  std::map<std::string, std::string> files;
  // Members present but not read: "../x: a name with '..', refused" etc. Reported, never
  // extracted.
  std::vector<std::string> refused;
};

// The agent key from SMBIOS type 11 OEM strings (io.guestkit.agent-key=HEX), if any.
struct SmbiosSeed {
  std::optional<std::string> agent_key_hex;  // a secret: never logged
};

}  // namespace guestkit::plugins::seed
