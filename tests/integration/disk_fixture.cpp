#include "tests/integration/disk_fixture.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>

namespace guestkit::test {
namespace fs = std::filesystem;

void require_disk_tools() {
  if (!running_as_root()) skip("disk tests need root (loop devices, mount)");
  for (const char* tool : {"losetup", "mkfs.ext4", "mkfs.xfs", "mkfs.vfat", "mkswap", "sfdisk", "resize2fs"})
    if (!core::find_program(tool)) skip(std::string(tool) + " is not installed (scripts/setup installs it)");
  if (!fs::exists("/dev/loop-control")) skip("no /dev/loop-control: the kernel has no loop device support here");
}

DiskLab::DiskLab() {
  require_disk_tools();
  // Private mounts for this process and its children; a fresh /run for our records.
  static bool unshared = false;
  if (!unshared) {
    REQUIRE(::unshare(CLONE_NEWNS) == 0);
    REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    unshared = true;
  }
  REQUIRE(::mount("guestkit-test-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") == 0);
  fs::create_directories(srv());
  fs::create_directories(dir_.path() / "hooks");
  write_config();
}

namespace {

// mountinfo writes space, tab, newline and backslash in paths as \ooo octal escapes.
std::string unescape_mountinfo(const std::string& t) {
  std::string out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\' && i + 3 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 1]))) {
      out += static_cast<char>(std::stoi(t.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += t[i];
    }
  }
  return out;
}

// Field 5 of every mountinfo line, unescaped.
std::vector<std::string> mount_targets() {
  std::vector<std::string> out;
  std::ifstream mi("/proc/self/mountinfo");
  for (std::string line; std::getline(mi, line);) {
    std::istringstream is(line);
    std::string id, parent, devno, root, target;
    is >> id >> parent >> devno >> root >> target;
    out.push_back(unescape_mountinfo(target));
  }
  return out;
}

}  // namespace

DiskLab::~DiskLab() {
  // Unmount whatever is still mounted below our dir (a failed test, or labels the test
  // left mounted), deepest first, so the temp dir can go.
  std::vector<std::string> targets;
  for (const auto& target : mount_targets())
    if (target.rfind(dir_.path().string(), 0) == 0) targets.push_back(target);
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  for (const auto& l : loops_) (void)core::run({"losetup", "-d", "/dev/" + l});
  ::umount2("/run", MNT_DETACH);
}

void DiskLab::set_disk_config(const std::string& extra) {
  extra_ = extra;
  write_config();
}

void DiskLab::write_config() {
  const bool own_match = extra_.find("  match:") != std::string::npos;
  dir_.write("guestkit.yml", "hooks_dir: " + (dir_.path() / "hooks").string() + "\ndisk:\n" +
                                 (own_match ? "" : "  match: [\"loop*\"]\n") + "  root: " +
                                 srv().string() + "\n" + extra_);
}

std::string DiskLab::add_loop(std::size_t size_mib, bool partitions) {
  auto image = dir_.path() / ("disk" + std::to_string(loops_.size()) + ".img");
  { std::ofstream(image).close(); }
  fs::resize_file(image, size_mib << 20);
  std::vector<std::string> argv{"losetup", "--find", "--show"};
  if (partitions) argv.push_back("--partscan");
  argv.push_back(image.string());
  auto r = core::run(argv);
  REQUIRE(r);
  INFO(r->err);
  REQUIRE(r->success());
  std::string dev = r->out.substr(0, r->out.find('\n'));
  std::string name = dev.substr(dev.rfind('/') + 1);
  loops_.push_back(name);
  return name;
}

fs::path DiskLab::image_of(const std::string& loop) const {
  auto r = core::run({"losetup", "--noheadings", "--output", "BACK-FILE", "/dev/" + loop});
  REQUIRE(r);
  std::string path = r->out.substr(0, r->out.find('\n'));
  while (!path.empty() && path.back() == ' ') path.pop_back();
  return path;
}

void DiskLab::must(std::vector<std::string> argv) {
  core::ExecOptions o;
  o.timeout = std::chrono::seconds(60);
  auto r = core::run(argv, o);
  REQUIRE(r);
  INFO(argv[0] << ": " << r->err);
  REQUIRE(r->success());
}

core::ExecResult DiskLab::disk(std::vector<std::string> args, std::map<std::string, std::string> env) {
  std::vector<std::string> argv{built_binary("hotplug", "guestkit-disk").string(), "--config",
                                config().string(), "--log-stderr"};
  argv.insert(argv.end(), args.begin(), args.end());
  core::ExecOptions o;
  o.timeout = std::chrono::seconds(60);
  o.env = std::move(env);
  auto r = core::run(argv, o);
  REQUIRE(r);
  return std::move(r).value();
}

std::string DiskLab::mountinfo_of(const fs::path& target) const {
  std::ifstream mi("/proc/self/mountinfo");
  std::string found;
  for (std::string line; std::getline(mi, line);) {
    std::istringstream is(line);
    std::string id, parent, devno, root, t;
    is >> id >> parent >> devno >> root >> t;
    if (unescape_mountinfo(t) == target.string()) found = line;
  }
  return found;
}

void DiskLab::add_logging_hook(const std::string& name) {
  dir_.write("hooks/" + name,
             "#!/bin/sh\necho \"" + name + " $*\" >> \"" + (dir_.path() / "hooks.log").string() + "\"\n", 0755);
}

std::string DiskLab::hooks_log() const {
  return fs::exists(dir_.path() / "hooks.log") ? dir_.read("hooks.log") : "";
}

core::ExecResult DiskLab::boot(const std::string& yaml, std::vector<std::string> args) const {
  fs::create_directories(dir_.path() / "root/etc");
  dir_.write("boot.yml", yaml);
  std::vector<std::string> argv{built_binary("plugins", "guestkit-boot").string(),
                                "--root",
                                (dir_.path() / "root").string(),
                                "--config",
                                (dir_.path() / "boot.yml").string(),
                                "--log-stderr"};
  argv.insert(argv.end(), args.begin(), args.end());
  core::ExecOptions o;
  o.timeout = std::chrono::seconds(120);
  auto r = core::run(argv, o);
  REQUIRE(r);
  return std::move(r).value();
}

bool in_swaps(const std::string& dev) {
  std::ifstream in("/proc/swaps");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(dev + " ", 0) == 0) return true;
  return false;
}

SwapOff::~SwapOff() {
  if (in_swaps(dev)) (void)core::run({"swapoff", dev});
}

}  // namespace guestkit::test
