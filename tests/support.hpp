#pragma once
// Shared test helpers: temp trees that clean up after themselves, and an honest skip.

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "core/root.hpp"

namespace guestkit::test {

// A fresh directory under $TMPDIR (or /tmp), removed recursively on destruction,
// also when the test fails.
class TempDir {
 public:
  TempDir();
  // A fresh directory under `base` instead of $TMPDIR.
  explicit TempDir(const std::filesystem::path& base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  // The temp dir as a guestkit Root.
  core::Root root() const;
  // Writes a host file below the temp dir, creating parents: write("etc/x", "...").
  std::filesystem::path write(std::string_view relative, std::string_view content,
                              mode_t mode = 0644) const;
  std::string read(std::string_view relative) const;

 private:
  std::filesystem::path path_;
};

// A base for temp dirs holding hooks and plugins that guestkit must agree to run:
// every directory above them root's (or ours) and not writable by group or others
// (StrictModes), which /tmp (1777) is not. The build tree's tmp/, when its own
// parents pass; otherwise the test is skipped, saying why.
std::filesystem::path trusted_temp_base();

// Prints why the test cannot run, then throws Skipped: the test's stack unwinds (temp
// dirs removed, fixtures torn down) up to Catch, where tests/main.cpp's listener sees
// the skip and exits 77, which ctest reports as skipped, by name. Skipped derives from
// no standard exception, so a test's catch (const std::exception&) does not take it.
struct Skipped {
  std::string reason;
};
[[noreturn]] void skip(std::string_view reason);
// Whether skip() was called in this process (tests/main.cpp).
bool skip_requested();

bool running_as_root();

// Path of a built binary: GUESTKIT_BINARY_DIR/<subdir>/<name>.
std::filesystem::path built_binary(std::string_view subdir, std::string_view name);

}  // namespace guestkit::test

#define GUESTKIT_SKIP(reason) ::guestkit::test::skip(reason)
