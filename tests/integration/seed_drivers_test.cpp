// Storage drivers for a late seed medium (plugins/seed/storage_drivers.hpp), by the
// real modprobe pointed at a tree of its own (-C CONFIG -d DIR -S RELEASE, indexes made
// by the real depmod): a temp root stands for /sys, with unbound PCI storage
// controllers whose modaliases the configuration maps to modules that load (their
// install command binds the device, as a driver would), that are refused (install
// /bin/false), blacklisted, disabled (install /bin/true), or to no module at all.
// Nothing reaches the running kernel: every module here is an install command.

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "core/exec.hpp"
#include "plugins/seed/storage_drivers.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gs = guestkit::plugins::seed;
namespace gt = guestkit::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kRelease = "0.0.0-guestkit-test";

class DriversLab {
 public:
  DriversLab() {
    for (const char* tool : {"modprobe", "depmod"})
      if (!gc::find_program(tool))
        gt::skip(std::string(tool) + " is not installed (kmod; scripts/setup installs it)");
    fs::create_directories(tmp_.path() / "modules/lib/modules" / kRelease);
    auto r = gc::run({"depmod", "-b", (tmp_.path() / "modules").string(), kRelease});
    REQUIRE(r);
    INFO("depmod: " << r->err);
    REQUIRE(r->success());
  }

  // An unbound PCI mass-storage controller (class 0x0101..: IDE) with this vendor id.
  std::string controller(int slot, const std::string& vendor) const {
    const std::string name = "0000:00:0" + std::to_string(slot) + ".0";
    const std::string dir = "root/sys/bus/pci/devices/" + name + "/";
    tmp_.write(dir + "class", "0x010180\n");
    tmp_.write(dir + "modalias",
               "pci:v0000" + vendor + "d00007010sv00001AF4sd00001100bc01sc01i80\n");
    return name;
  }

  // What binding `name` to a driver looks like in sysfs (the `driver` link).
  std::string bind_command(const std::string& name) const {
    const fs::path dev = tmp_.path() / "root/sys/bus/pci/devices" / name;
    return "ln -s ../../../drivers/fake " + (dev / "driver").string();
  }

  void config(const std::string& text) const { tmp_.write("modprobe.d/test.conf", text); }

  gs::Modprobe modprobe() const {
    return {{"modprobe", "-C", (tmp_.path() / "modprobe.d").string(), "-d",
             (tmp_.path() / "modules").string(), "-S", kRelease}};
  }

  gs::StorageDrivers load() const {
    auto root = gc::Root::open(tmp_.path() / "root");
    REQUIRE(root);
    return gs::load_storage_drivers(*root, std::chrono::seconds(10), modprobe());
  }

  bool bound(const std::string& name) const {
    return fs::is_symlink(tmp_.path() / "root/sys/bus/pci/devices" / name / "driver");
  }

 private:
  gt::TempDir tmp_;
};

bool mentions(const std::vector<std::string>& list, const std::string& a, const std::string& b) {
  for (const auto& s : list)
    if (s.find(a) != std::string::npos && s.find(b) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE(
    "seed drivers: a refused or blacklisted driver is reported with its reason, no module is not",
    "[seed-drivers]") {
  DriversLab lab;
  const auto ok = lab.controller(1, "AAAA");
  const auto refused = lab.controller(2, "BBBB");
  const auto black = lab.controller(3, "CCCC");
  const auto none = lab.controller(4, "DDDD");
  const auto disabled = lab.controller(5, "EEEE");
  lab.config(
      "alias pci:v0000AAAAd*sv*sd*bc01sc*i* gk_ok\n"
      "install gk_ok " +
      lab.bind_command(ok) +
      "\n"
      "alias pci:v0000BBBBd*sv*sd*bc01sc*i* gk_refused\n"
      "install gk_refused /bin/false\n"
      "alias pci:v0000CCCCd*sv*sd*bc01sc*i* gk_black\n"
      "install gk_black " +
      lab.bind_command(black) +
      "\n"
      "blacklist gk_black\n"
      "alias pci:v0000EEEEd*sv*sd*bc01sc*i* gk_disabled\n"
      "install gk_disabled /bin/true\n");

  const auto d = lab.load();
  for (const auto& s : d.loaded) UNSCOPED_INFO("loaded: " << s);
  for (const auto& s : d.refused) UNSCOPED_INFO("refused: " << s);
  for (const auto& s : d.problems) UNSCOPED_INFO("problem: " << s);

  // The one that loads (its install command bound the device) is loaded, and only it.
  CHECK(lab.bound(ok));
  REQUIRE(d.loaded.size() == 1);
  CHECK(d.loaded.front().starts_with(ok + " (pci:v0000AAAA"));
  // install /bin/false: refused, with modprobe's own reason.
  CHECK(mentions(d.refused, refused, "Error running install command '/bin/false'"));
  // Blacklisted: never run (the device stays unbound), reported naming the module.
  CHECK_FALSE(lab.bound(black));
  CHECK(mentions(d.refused, black, "gk_black: blacklisted"));
  // Disabled by `install ... /bin/true`: modprobe succeeds, no driver comes.
  CHECK(mentions(d.refused, disabled, "install command ran and the device has no driver"));
  // No module for the modalias at all: normal, nothing said.
  CHECK_FALSE(mentions(d.refused, none, ""));
  CHECK_FALSE(mentions(d.problems, "DDDD", ""));
  CHECK(d.refused.size() == 3);
  CHECK(d.problems.empty());
}

TEST_CASE("seed drivers: a modprobe that cannot run is a problem, not a silent no-module",
          "[seed-drivers]") {
  gt::TempDir tmp;
  tmp.write("sys/bus/pci/devices/0000:00:01.0/class", "0x010180\n");
  tmp.write("sys/bus/pci/devices/0000:00:01.0/modalias",
            "pci:v0000AAAAd00007010sv00001AF4sd00001100bc01sc01i80\n");
  const gs::Modprobe missing{{"/nonexistent/guestkit-test/modprobe"}};
  const auto d = gs::load_storage_drivers(tmp.root(), std::chrono::seconds(5), missing);
  CHECK(d.loaded.empty());
  CHECK(d.refused.empty());
  REQUIRE(d.problems.size() == 1);
  CHECK(d.problems.front().find("pci:v0000AAAA") != std::string::npos);
}
