#pragma once
// Real disks for tests: sparse image files on loop devices, formatted with the real
// mkfs tools, and a private mount namespace with its own /run, so every mount the
// test (or guestkit-disk run from it) makes is invisible to the host and vanishes
// with the test process even if it crashes. Loop devices are global: the fixture
// detaches every one it attached.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/exec.hpp"
#include "tests/support.hpp"

namespace guestkit::test {

// Skips (exit 77, named) unless root with losetup and the mkfs tools.
void require_disk_tools();

class DiskLab {
 public:
  DiskLab();  // private mount namespace + tmpfs /run, a temp dir with srv/ and hooks/
  ~DiskLab();
  DiskLab(const DiskLab&) = delete;
  DiskLab& operator=(const DiskLab&) = delete;

  const TempDir& dir() const { return dir_; }
  std::filesystem::path srv() const { return dir_.path() / "srv"; }
  std::filesystem::path config() const { return dir_.path() / "guestkit.yml"; }
  // Extra YAML under `disk:` (indented two spaces), rewritten into the config.
  void set_disk_config(const std::string& extra_disk_yaml);

  // A loop device on a new sparse image of `size_mib`; returns its kernel name.
  std::string add_loop(std::size_t size_mib, bool partitions = false);
  std::filesystem::path image_of(const std::string& loop) const;
  // Runs a command that must succeed (mkfs...), failing the test otherwise.
  void must(std::vector<std::string> argv);
  // Runs guestkit-disk with the lab's config and --log-stderr.
  core::ExecResult disk(std::vector<std::string> args, std::map<std::string, std::string> env = {});
  // The mountinfo line of a mountpoint ("" when not mounted).
  std::string mountinfo_of(const std::filesystem::path& target) const;
  // A hook script that appends "NAME ARGS..." to hooks.log.
  void add_logging_hook(const std::string& name);
  std::string hooks_log() const;
  // Runs guestkit-boot --root DIR/root --config DIR/boot.yml (holding `yaml`)
  // --log-stderr ARGS...; makes DIR/root/etc first.
  core::ExecResult boot(const std::string& yaml, std::vector<std::string> args) const;

 private:
  void write_config();
  TempDir dir_{trusted_temp_base()};  // holds the hooks
  std::string extra_;
  std::vector<std::string> loops_;
};

// Whether `dev` ("/dev/loop3p1") is an active swap area (/proc/swaps).
bool in_swaps(const std::string& dev);

// swapoff on scope exit, whatever happened: a test's swap never outlives it.
struct SwapOff {
  std::string dev;
  ~SwapOff();
};

}  // namespace guestkit::test
