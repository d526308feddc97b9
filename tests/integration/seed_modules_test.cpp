// Kernel modules from a seed (plugins/seed/modules.hpp), by the real guestkit-seed on
// a temp root whose /lib is a link to usr/lib (merged /usr): tarballs made by tar(1)
// holding a real module object (gcc -c, with a .modinfo alias) for the running
// kernel, installed into /lib/modules/<release>/updates/guestkit-seed/ and indexed by
// the real depmod; hostile tarballs install nothing; a new instance's modules replace
// the previous instance's; a planted link is never written through.

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/exec.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gt = guestkit::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string release() {
  struct utsname u {};
  REQUIRE(::uname(&u) == 0);
  return u.release;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class ModulesLab {
 public:
  ModulesLab() {
    if (!gt::running_as_root()) gt::skip("needs root (files owned by root, mknod)");
    for (const char* tool : {"tar", "xz", "gcc", "depmod"})
      if (!gc::find_program(tool))
        gt::skip(std::string(tool) + " is not installed (scripts/setup installs it)");
    fs::create_directories(root() / "usr/lib/modules" / release() / "kernel/drivers/misc");
    fs::create_directories(root() / "etc");
    fs::create_symlink("usr/lib", root() / "lib");
    // The distribution's own module of the same name: never overwritten.
    tmp_.write("root/usr/lib/modules/" + release() + "/kernel/drivers/misc/gkseed.ko",
               "the distribution's gkseed.ko");
  }

  fs::path root() const { return tmp_.path() / "root"; }
  fs::path dir() const { return tmp_.path(); }
  fs::path release_dir() const { return root() / "usr/lib/modules" / release(); }
  fs::path installed() const { return release_dir() / "updates/guestkit-seed"; }

  // A real kernel-module-shaped object: ELF relocatable with a .modinfo alias, which
  // depmod indexes (modules.alias) as it does a distribution module.
  fs::path module_object(const std::string& name) const {
    const fs::path src = dir() / (name + ".c");
    std::ofstream(src)
        << "static const char modinfo[] __attribute__((section(\".modinfo\"), used)) "
           "= \"license=GPL\\0name="
        << name << "\\0alias=" << name << "-e2e\\0\";\n"
        << "int " << name << "_x;\n";
    const fs::path obj = dir() / (name + ".o");
    must({"gcc", "-c", "-o", obj.string(), src.string()});
    return obj;
  }

  void must(const std::vector<std::string>& argv) const {
    auto r = gc::run(argv);
    REQUIRE(r);
    INFO(argv.front() << ": " << r->err);
    REQUIRE(r->success());
  }

  // The seed directory: guestkit/order.json (the instance id only: no order, so no
  // shadow-utils needed) and guestkit/modules/<tarball name> from `tree` by tar(1).
  // `options` go before the members, `members` (relative to `tree`) after ".".
  fs::path seed(const std::string& instance, const fs::path& tree, const std::string& tarball,
                std::vector<std::string> options = {},
                std::vector<std::string> members = {}) const {
    const fs::path s = dir() / ("seed-" + instance);
    fs::create_directories(s / "guestkit/modules");
    std::ofstream(s / "guestkit/order.json") << json{{"instance_id", instance}}.dump();
    const bool xz = tarball.ends_with(".xz");
    std::vector<std::string> argv{"tar", "--format=gnu", xz ? "-cJf" : "-czf",
                                  (s / "guestkit/modules" / tarball).string()};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"-C", tree.string(), "."});
    argv.insert(argv.end(), members.begin(), members.end());
    must(argv);
    return s;
  }

  gc::ExecResult apply(const fs::path& seed_dir) const {
    gc::ExecOptions o;
    o.timeout = std::chrono::seconds(120);
    auto r = gc::run({gt::built_binary("plugins", "guestkit-seed").string(), "--root",
                      root().string(), "--log-stderr", "--dir", seed_dir.string(), "apply"},
                     o);
    REQUIRE(r);
    return std::move(r).value();
  }

  json report() const { return json::parse(slurp(root() / "run/guestkit/seed.json")); }

 private:
  gt::TempDir tmp_;
};

// What updates/ holds besides the installed tree: a staging directory left behind
// (whatever it is named) shows here.
std::vector<std::string> leftovers(const ModulesLab& lab) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(lab.release_dir() / "updates", ec))
    if (e.path().filename() != "guestkit-seed") out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE(
    "seed modules: the running kernel's tarball installed beside the distribution's, depmod run",
    "[seed-modules]") {
  ModulesLab lab;
  const fs::path tree = lab.dir() / "tree";
  const std::string rel = "lib/modules/" + release();
  fs::create_directories(tree / rel / "kernel/drivers/misc");
  fs::copy_file(lab.module_object("gkseed"), tree / rel / "kernel/drivers/misc/gkseed.ko");
  // depmod's index files, as a `tar -C /lib/modules/R .` of a real tree has them.
  std::ofstream(tree / rel / "modules.dep") << "kernel/drivers/misc/gkseed.ko:\n";
  const auto seed = lab.seed("vm-mod-1", tree, release() + ".tar.xz");
  // A tarball for another kernel is reported, never installed.
  fs::copy_file(seed / "guestkit/modules" / (release() + ".tar.xz"),
                seed / "guestkit/modules/0.0.1-other.tar.xz");

  const auto r = lab.apply(seed);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  const fs::path ko = lab.installed() / "kernel/drivers/misc/gkseed.ko";
  REQUIRE(fs::is_regular_file(ko));
  CHECK(slurp(ko) == slurp(tree / rel / "kernel/drivers/misc/gkseed.ko"));
  struct stat st {};
  REQUIRE(::lstat(ko.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_uid == 0);
  // The distribution's file is as it was; the tarball's modules.dep was not copied.
  CHECK(slurp(lab.release_dir() / "kernel/drivers/misc/gkseed.ko") ==
        "the distribution's gkseed.ko");
  CHECK_FALSE(fs::exists(lab.installed() / "modules.dep"));
  // depmod ran on the root: the seed's module is indexed, with its alias.
  const std::string dep = slurp(lab.release_dir() / "modules.dep");
  CHECK(dep.find("updates/guestkit-seed/kernel/drivers/misc/gkseed.ko:") != std::string::npos);
  CHECK(slurp(lab.release_dir() / "modules.alias").find("alias gkseed-e2e gkseed") !=
        std::string::npos);
  const auto rep = lab.report();
  CHECK(rep["modules"]["state"] == "installed");
  CHECK(rep["modules"]["files"] ==
        json::array({"updates/guestkit-seed/kernel/drivers/misc/gkseed.ko"}));
  CHECK(rep["modules"]["skipped"] == json::array({rel + "/modules.dep"}));
  bool other = false;
  for (const auto& item : rep["not_applied"])
    if (item["key"] == "guestkit/modules/0.0.1-other.tar.xz")
      other = item["why"].get<std::string>().find("for kernel 0.0.1-other") != std::string::npos;
  CHECK(other);

  // A new instance's modules replace the previous instance's, whole.
  const fs::path tree2 = lab.dir() / "tree2";
  fs::create_directories(tree2 / "kernel/extra");
  fs::copy_file(lab.module_object("gknext"), tree2 / "kernel/extra/gknext.ko");
  const auto r2 = lab.apply(lab.seed("vm-mod-2", tree2, release() + ".tar.xz"));
  INFO(r2.out << r2.err);
  CHECK(r2.exit_code == 0);
  CHECK(fs::is_regular_file(lab.installed() / "kernel/extra/gknext.ko"));
  CHECK_FALSE(fs::exists(ko));
  CHECK(leftovers(lab).empty());
  const std::string dep2 = slurp(lab.release_dir() / "modules.dep");
  CHECK(dep2.find("updates/guestkit-seed/kernel/extra/gknext.ko:") != std::string::npos);
  CHECK(dep2.find("updates/guestkit-seed/kernel/drivers/misc/gkseed.ko") == std::string::npos);
}

TEST_CASE("seed modules: a tarball with hostile members installs nothing", "[seed-modules]") {
  ModulesLab lab;
  const fs::path tree = lab.dir() / "tree";
  fs::create_directories(tree / "kernel/ok");
  fs::copy_file(lab.module_object("gkok"), tree / "kernel/ok/gkok.ko");
  fs::create_symlink("/etc/shadow", tree / "kernel/ok/link.ko");
  fs::create_hard_link(tree / "kernel/ok/gkok.ko", tree / "kernel/ok/hard.ko");
  REQUIRE(::mknod((tree / "kernel/ok/null.ko").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
  REQUIRE(::mkfifo((tree / "kernel/ok/fifo.ko").c_str(), 0600) == 0);
  std::ofstream(tree / "kernel/ok/run.sh") << "#!/bin/sh\n";
  fs::create_directories(tree / "etc");
  std::ofstream(tree / "etc/passwd.ko") << "x";
  fs::create_directories(tree / "lib/modules/0.0.1-other/kernel");
  std::ofstream(tree / "lib/modules/0.0.1-other/kernel/other.ko") << "x";
  {  // over the member cap: 64 MiB + 1, sparse on disk, stored whole by tar
    std::ofstream big(tree / "kernel/ok/big.ko");
    big.seekp((64 << 20));
    big << 'x';
  }
  // '..' and an absolute name, written by tar(1) itself (-P keeps them as given).
  const fs::path evil = lab.dir() / "evil.ko";
  std::ofstream(evil) << "evil";
  const auto seed =
      lab.seed("vm-hostile", tree, release() + ".tar.xz", {"-P"}, {"../evil.ko", evil.string()});
  const auto r = lab.apply(seed);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);  // partial: the modules were refused, the rest applied
  CHECK_FALSE(fs::exists(lab.installed()));
  CHECK(leftovers(lab).empty());
  CHECK_FALSE(fs::exists(lab.release_dir() / "modules.dep"));  // depmod did not run
  const auto rep = lab.report();
  CHECK(rep["state"] == "applied (no order: the instance stays open to the agent's order)");
  CHECK(rep["modules"]["state"] == "refused");
  std::string refused;
  for (const auto& line : rep["modules"]["refused"]) refused += line.get<std::string>() + "\n";
  INFO(refused);
  CHECK(refused.find("kernel/ok/link.ko: a symbolic link, refused") != std::string::npos);
  CHECK(refused.find(".ko: a hard link, refused") != std::string::npos);  // either name
  CHECK(refused.find("kernel/ok/null.ko: a character device, refused") != std::string::npos);
  CHECK(refused.find("kernel/ok/fifo.ko: a fifo, refused") != std::string::npos);
  CHECK(refused.find("kernel/ok/run.sh: not a kernel module") != std::string::npos);
  CHECK(refused.find("etc/passwd.ko: not under kernel/, extra/ or updates/") != std::string::npos);
  CHECK(refused.find("lib/modules/0.0.1-other/kernel/other.ko: outside /lib/modules/") !=
        std::string::npos);
  CHECK(refused.find("kernel/ok/big.ko: 67108865 bytes, over the cap") != std::string::npos);
  CHECK(refused.find("../evil.ko: a name with '..', refused") != std::string::npos);
  CHECK(refused.find(evil.string() + ": an absolute name, refused") != std::string::npos);
  // Reported once (the driver's error), not also logged by the library on the way up.
  const auto first = r.err.find("kernel modules");
  CHECK(first != std::string::npos);
  CHECK(r.err.find("kernel modules", first + 1) == std::string::npos);
}

TEST_CASE("seed modules: a corrupt or sparse tarball, and a planted link, change nothing outside",
          "[seed-modules]") {
  ModulesLab lab;
  SECTION("not xz at all") {
    const fs::path s = lab.dir() / "seed-bad";
    fs::create_directories(s / "guestkit/modules");
    std::ofstream(s / "guestkit/order.json") << R"({"instance_id": "vm-bad"})";
    std::ofstream(s / "guestkit/modules" / (release() + ".tar.xz")) << "not an xz stream";
    const auto r = lab.apply(s);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(lab.report()["modules"]["state"] == "refused");
    CHECK_FALSE(fs::exists(lab.installed()));
  }
  SECTION("a sparse member (tar --sparse)") {
    const fs::path tree = lab.dir() / "tree";
    fs::create_directories(tree / "kernel");
    {
      std::ofstream f(tree / "kernel/holes.ko");
      f.seekp(1 << 20);
      f << 'x';
    }
    const auto r = lab.apply(lab.seed("vm-sparse", tree, release() + ".tar.xz", {"--sparse"}));
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    const auto rep = lab.report();
    REQUIRE(rep["modules"]["refused"].size() == 1);
    CHECK(rep["modules"]["refused"][0] == "kernel/holes.ko: a sparse member, refused");
    CHECK_FALSE(fs::exists(lab.installed()));
  }
  SECTION("updates/guestkit-seed planted as a link out of the tree") {
    const fs::path outside = lab.dir() / "outside";
    fs::create_directories(outside);
    fs::create_directories(lab.release_dir() / "updates");
    fs::create_directory_symlink(outside, lab.release_dir() / "updates/guestkit-seed");
    const fs::path tree = lab.dir() / "tree";
    fs::create_directories(tree / "kernel");
    fs::copy_file(lab.module_object("gklink"), tree / "kernel/gklink.ko");
    const auto r = lab.apply(lab.seed("vm-link", tree, release() + ".tar.gz"));
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(fs::is_empty(outside));
    CHECK_FALSE(fs::is_symlink(lab.installed()));
    CHECK(fs::is_regular_file(lab.installed() / "kernel/gklink.ko"));
  }
}
