#pragma once
// Shared test helpers: temp trees that clean up after themselves, and an honest skip.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// OpenSSH's reader as the oracle for authorized_keys lines: the SHA256 fingerprint
// `ssh-keygen -l -E sha256 -f FILE` prints for the first key it reads from a file (in
// `dir`) holding `line`, or "" when it reads none. Throws when ssh-keygen cannot be run
// or prints no fingerprint on success.
std::string ssh_keygen_fingerprint(const TempDir& dir, std::string_view line);

// A file in systemd's unit-file syntax (systemd.syntax(7): a .network, .service...)
// read as systemd reads it, so a test checks what the file means rather than its
// bytes: "[Section]" lines, "Key=Value" with white space around both trimmed, "#" and
// ";" comment lines, a trailing backslash joining the next line (with a space).
// `error` names the first line systemd would reject (an assignment before any section,
// a line that is neither); empty when the file is valid.
struct UnitFile {
  struct Setting {
    std::string section, key, value;
  };
  std::vector<Setting> settings;  // in file order
  std::string error;
  // The value systemd uses for a single-valued key: the last assignment; nullopt if none.
  std::optional<std::string> get(std::string_view section, std::string_view key) const;
  std::vector<std::string> sections() const;  // each once, in file order
};
UnitFile parse_unit_file(std::string_view text);

// fork() for a child that must not outlive the test: in the child (pid 0 returned) it
// asks the kernel for SIGKILL when the test process goes (PR_SET_PDEATHSIG, kept
// across exec), so an agent, xinetd or helper the test started dies with a test run
// that is killed or crashes, where no destructor runs; a child whose test already went
// between fork() and that request exits at once. Call it from the test's own thread:
// the signal follows the thread that forked.
pid_t fork_child();

// A ustar header (POSIX.1-1988) for one regular file of `size` bytes, checksum filled
// in: what the tar readers' tests feed them, member by member.
std::string ustar_header(const std::string& name, std::size_t size);

}  // namespace guestkit::test

#define GUESTKIT_SKIP(reason) ::guestkit::test::skip(reason)
