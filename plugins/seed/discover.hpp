#pragma once
// Finding and reading platform seeds (source.hpp), without mounting anything.
//
// Readers: iso9660 and tar through libarchive in userspace; vfat through mtools
// (`mcopy`, userspace too: no kernel filesystem parser sees platform data); a seed
// directory through the Root. Only the members a layout names are read (whitelist);
// every read is size-capped; members with unsafe names ('..', absolute, not UTF-8),
// links, devices, fifos, sparse or oversized members are listed in SeedFiles::refused
// and never read.
//
// Discovery (live systems only: under --root the caller names a device or a dir):
// 1. the in-swap tar at 512 KiB of the swap disk, 2. NoCloud (ds=nocloud;s=file:///PATH/
// on the kernel command line, then in the SMBIOS system serial, then iso9660/vfat
// labelled cidata/CIDATA, then the image's /var/lib/cloud/seed/nocloud/), 3. ConfigDrive
// (iso9660/vfat labelled config-2/CONFIG-2). All found are returned, the first wins.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed {

// Caps (README.md, "Platform seeds").
inline constexpr std::size_t kMaxFileBytes = 1u << 20;      // any member but those below
inline constexpr std::size_t kMaxKeyBytes = 4096;           // guestkit/agent.key
inline constexpr std::size_t kMaxModulesBytes = 64u << 20;  // a modules tarball
inline constexpr std::size_t kMaxTotalBytes = 96u << 20;    // all members of one seed
inline constexpr std::size_t kMaxEntries = 4096;            // archive entries looked at
inline constexpr std::size_t kMaxRefused = 64;              // refusals listed (then "...")
// Where the old platform writes the seed tar on the swap disk (whole disk).
inline constexpr std::uint64_t kSwapSeedOffset = 512u << 10;

enum class Medium {
  swap_tar,   // tar at kSwapSeedOffset of a whole disk
  iso9660,    // libarchive
  vfat,       // mtools
  directory,  // a seed directory, read through the Root
};

struct Found {
  SourceKind kind{};
  Medium medium{};
  std::string path;  // device node (the whole disk for swap_tar) or guest directory
  std::string how;   // why this is a seed: "label cidata", "ds= on the kernel command line"
};

// Every seed source of a live system, in the documented order (first = winner). Under a
// Root other than "/" nothing is discovered (empty). `swap_device` is swap.device from
// the configuration (may be empty). Devices that cannot be probed are skipped (debug).
// Sources seen but not usable (a swap device holding a filesystem, a ds= directory that
// does not exist) are described in `ignored`, for the caller to log.
std::vector<Found> discover(const core::Root& root, const std::string& swap_device = {},
                            std::vector<std::string>* ignored = nullptr);

// Reads what discover() found.
core::Result<SeedFiles> read(const core::Root& root, const Found& found);

// A device given by the user (--device): probed with libblkid; iso9660 or vfat with a
// seed label (or `guess` when the label says nothing), else a seed tar at 512 KiB.
// The device is opened once and read through that descriptor (vfat: mtools by name).
core::Result<SeedFiles> read_device(const std::string& device,
                                    std::optional<SourceKind> guess = std::nullopt);
// A seed directory (--dir, ds=nocloud;s=file://, /var/lib/cloud/seed/nocloud/), guest
// path under `root`; symlinks inside it are refused. Its layout is told by its files
// (openstack/latest/ makes a ConfigDrive, guestkit/ or gandi/ a swap layout) unless
// `kind` says.
core::Result<SeedFiles> read_dir(const core::Root& root, const std::string& dir,
                                 std::optional<SourceKind> kind = std::nullopt);
// The in-swap tar on an open whole disk (or image): nullopt when byte 512 KiB does not
// start a tar archive in the guestkit/ or gandi/ layout.
core::Result<std::optional<SeedFiles>> read_swap_seed(int fd, const std::string& origin);
// How many bytes from kSwapSeedOffset the seed tar spans (rounded up to 4 KiB), or
// nullopt when there is no seed tar there: what 01-setup-swap erases.
core::Result<std::optional<std::uint64_t>> swap_seed_extent(int fd);

// SMBIOS type 11 OEM strings under the root (/sys/firmware/dmi/entries/11-*/raw).
core::Result<SmbiosSeed> read_smbios(const core::Root& root);
// One raw SMBIOS structure (header, formatted area, string set): its strings.
// An error when the structure is not type 11 or is malformed.
core::Result<std::vector<std::string>> smbios_oem_strings(std::string_view raw);
// io.guestkit.agent-key=HEX among OEM strings: 64..128 hex digits; an error (that never
// quotes the value) when present but malformed.
core::Result<std::optional<std::string>> agent_key_of(const std::vector<std::string>& strings);

// The seed directory of `ds=nocloud;s=file:///PATH/` (also `seedfrom=`) in a kernel
// command line or an SMBIOS system serial: a normalised absolute path, nullopt when
// absent, not nocloud, not a local file URL, or unsafe ('..').
std::optional<std::string> ds_seed_dir(std::string_view text);

// The swap device 01-setup-swap uses when swap.device is empty (live system only):
// first a device labelled for swap (GPT partition "swap", "guestkitswap", "gandiswap";
// a swap signature labelled "swap"), else the old platform's whole disks: xvdz, then
// sdb when it is not the root disk, when they hold no filesystem or partition table.
core::Result<std::optional<std::string>> find_swap_device(const core::Root& host);

// Why guestkit-disk must not mount a device with this filesystem label / GPT partition
// name ("" when it may): a seed (cidata, config-2) or the swap disk.
std::string seed_device_reason(std::string_view fs_label, std::string_view part_name);

}  // namespace guestkit::plugins::seed
