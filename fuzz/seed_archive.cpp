// Platform seeds through libarchive, from a descriptor as on a real disk: the input as
// an iso9660 image (NoCloud, ConfigDrive) and as the in-swap tar at 512 KiB. Whatever
// the bytes, only whitelisted relative names come out, each within its cap, and a
// refused member is only reported.
//
// First input byte: which reader (even: iso9660 as NoCloud, odd: the swap tar).

#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/seed/archive.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/seed/layout.hpp"

namespace seed = guestkit::plugins::seed;

namespace {
void check(const seed::SeedFiles& files) {
  std::size_t total = 0;
  for (const auto& [name, content] : files.files) {
    FUZZ_CHECK(!name.empty() && name.front() != '/' && name.back() != '/');
    FUZZ_CHECK(name.find('\0') == std::string::npos);
    FUZZ_CHECK(("/" + name + "/").find("/../") == std::string::npos);
    FUZZ_CHECK(("/" + name + "/").find("/./") == std::string::npos);
    FUZZ_CHECK(name.find("//") == std::string::npos);
    const auto cap = seed::detail::member_cap(files.kind, name);
    FUZZ_CHECK(cap && content.size() <= *cap);
    total += content.size();
  }
  FUZZ_CHECK(total <= seed::kMaxTotalBytes);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int fd = ::memfd_create("seed", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0);
  const bool tar = data[0] & 1;
  const off_t at = tar ? static_cast<off_t>(seed::kSwapSeedOffset) : 0;
  FUZZ_CHECK(::ftruncate(fd, at + static_cast<off_t>(size - 1)) == 0);
  FUZZ_CHECK(::pwrite(fd, data + 1, size - 1, at) == static_cast<ssize_t>(size - 1));
  if (tar) {
    auto found = seed::detail::read_swap_tar(fd, "fuzz", true);
    if (found && *found) check((*found)->files);
  } else {
    auto files = seed::detail::read_iso(fd, seed::SourceKind::nocloud, "fuzz");
    if (files) check(*files);
  }
  ::close(fd);
  return 0;
}
