// A customer's filesystem label -> the name of its directory under /srv: the name is
// one safe path component and decodes back to the label (two labels never share one).

#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/disk/label.hpp"

namespace disk = guestkit::plugins::disk;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto label = fuzz_text(data, size);
  const std::string name = disk::mountpoint_name(label);
  if (name.empty()) return 0;
  FUZZ_CHECK(name.size() <= 255);
  FUZZ_CHECK(name != "." && name != "..");
  FUZZ_CHECK(name.front() != '.');
  FUZZ_CHECK(name.find('/') == std::string::npos);
  FUZZ_CHECK(name.find('\0') == std::string::npos);
  FUZZ_CHECK(disk::label_of_mountpoint_name(name) == label);
  // Decoding arbitrary names never crashes either.
  (void)disk::label_of_mountpoint_name(label);
  return 0;
}
