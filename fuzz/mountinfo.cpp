// /proc/self/mountinfo and /proc/swaps as the disk plugins read them (libmount tables
// through a Root): any text loads or is refused, never a crash; an entry's target is
// what the kernel escaped, decoded, without a NUL.
//
// Input: mountinfo text, then a NUL byte, then /proc/swaps text.

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/disk/mounts.hpp"

namespace {
// A char array, not a std::string: the atexit handler runs after static objects
// constructed later are gone.
char g_tree[] = "/dev/shm/guestkit-fuzz.XXXXXX";
std::filesystem::path tree() {
  static const bool made = [] {
    if (!::mkdtemp(g_tree)) std::abort();
    std::filesystem::create_directories(std::filesystem::path(g_tree) / "proc/self");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(g_tree, ec);
    });
    return true;
  }();
  (void)made;
  return g_tree;
}
void write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz_text(data, size);
  const auto nul = text.find('\0');
  write(tree() / "proc/self/mountinfo", text.substr(0, nul));
  write(tree() / "proc/swaps", nul == std::string_view::npos ? "" : text.substr(nul + 1));
  auto root = guestkit::core::Root::open(tree());
  FUZZ_CHECK(root);
  auto table = guestkit::plugins::disk::MountTable::load(*root);
  if (!table) return 0;
  for (const auto& e : table->entries()) {
    FUZZ_CHECK(e.target.find('\0') == std::string::npos);
    (void)table->mounts_of(e.devno);
    (void)table->mounted_at(e.target);
  }
  return 0;
}
