// prepare-detach and status through a real sealed agent session (guestkit-agent
// --listen unix, driven by guestkit-ctl with the key), on real loop devices with ext4
// mounted in the test's private mount namespace (tests/integration/disk_fixture.hpp).

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/exec.hpp"
#include "tests/integration/disk_fixture.hpp"

namespace fs = std::filesystem;
namespace gc = guestkit::core;
namespace gt = guestkit::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kKey = "6b657920666f7220746865206775657374206167656e7420746573747320212121";

// A process started by the test and killed by its pid when the test ends.
struct Child {
  pid_t pid = -1;
  ~Child() { stop(); }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
};

// guestkit-agent on a unix socket in the lab, root "/", the lab's disk config plus an
// agent section with the key: every request is sealed.
class Agent {
 public:
  explicit Agent(gt::DiskLab& lab) : lab_(lab) {
    const auto key = lab.dir().write("agent.key", std::string(kKey) + "\n", 0600);
    key_ = key.string();
    std::ifstream in(lab.config());
    std::string config((std::istreambuf_iterator<char>(in)), {});
    config += "agent:\n  key_file: " + key_ + "\n  allow_from: [unix]\n";
    const auto conf = lab.dir().write("agent.yml", config);
    socket_ = (lab.dir().path() / "agent.sock").string();
    const auto agent = gt::built_binary("agent", "guestkit-agent");
    const std::string log = (lab.dir().path() / "agent.log").string();
    child_.pid = gt::fork_child();
    if (child_.pid == 0) {
      ::execl(agent.c_str(), "guestkit-agent", "--config", conf.c_str(), "--log-file", log.c_str(),
              "--listen", ("unix:" + socket_).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(socket_); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(fs::exists(socket_));
  }
  // The answer of guestkit-ctl --json; its exit code in `code`.
  json ctl(std::vector<std::string> args, int* code = nullptr) const {
    std::vector<std::string> argv{gt::built_binary("agent", "guestkit-ctl").string(),
                                  "--connect",
                                  "unix:" + socket_,
                                  "--key",
                                  key_,
                                  "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = gc::run(argv);
    REQUIRE(r);
    INFO(r->err);
    if (code) *code = r->exit_code;
    auto j = json::parse(r->out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }
  std::string log() const {
    std::ifstream in(lab_.dir().path() / "agent.log");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }

 private:
  gt::DiskLab& lab_;
  std::string key_, socket_;
  Child child_;
};

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

}  // namespace

TEST_CASE(
    "prepare-detach: busy while a process holds a file, then ready and unmounted, "
    "the remove event finds nothing to do",
    "[prepare-detach]") {
  gt::DiskLab lab;
  lab.add_logging_hook("pre-disk-detach");
  auto loop = lab.add_loop(64);
  lab.must({"mkfs.ext4", "-q", "-L", "data", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  const auto mp = lab.srv() / "data";
  std::ofstream(mp / "journal.txt") << "written before the detach\n";

  // A process with a file of the disk open: tail -f, a real one with its own comm.
  Child holder;
  holder.pid = gt::fork_child();
  if (holder.pid == 0) {
    if (!::freopen("/dev/null", "w", stdout)) ::_exit(126);
    ::execlp("tail", "tail", "-f", (mp / "journal.txt").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 200; ++i) {  // until tail has opened the file
    std::error_code ec;
    bool open = false;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(holder.pid) + "/fd", ec))
      open = open || fs::read_symlink(e.path(), ec) == mp / "journal.txt";
    if (open) break;
    std::this_thread::sleep_for(10ms);
  }

  Agent agent(lab);
  int code = -1;
  auto busy = agent.ctl({"prepare-detach", "label:data"}, &code);
  INFO(busy.dump(2));
  CHECK(code == 1);
  REQUIRE(busy["ok"] == true);
  const auto& r = busy["result"];
  CHECK(r["state"] == "busy");
  CHECK(r["disk"] == loop);
  bool named = false;
  for (const auto& h : r["holders"])
    if (h["type"] == "process" && h["pid"] == holder.pid) {
      named = true;
      CHECK(h["comm"] == "tail");
      CHECK(h["user"] == "root");
      CHECK(h["uses"] == json::array({"fd"}));
    }
  CHECK(named);
  // Nothing changed: still mounted, recorded, no hook run.
  CHECK_FALSE(lab.mountinfo_of(mp).empty());
  CHECK(path_exists("/run/guestkit/disks/" + loop));
  CHECK(lab.hooks_log().empty());

  holder.stop();
  auto ready = agent.ctl({"prepare-detach", "/dev/" + loop}, &code);
  INFO(ready.dump(2));
  CHECK(code == 0);
  CHECK(ready["result"]["state"] == "ready");
  CHECK(ready["result"]["unmounted"] == json::array({mp.string()}));
  CHECK(lab.mountinfo_of(mp).empty());
  CHECK_FALSE(path_exists(mp));
  CHECK_FALSE(path_exists("/run/guestkit/disks/" + loop));
  CHECK(lab.hooks_log() == "pre-disk-detach /dev/" + loop + " " + mp.string() + "\n");

  // The data is on the device: mounted again read-only elsewhere, the file is there.
  const auto check = lab.dir().path() / "check";
  fs::create_directories(check);
  REQUIRE(::mount(("/dev/" + loop).c_str(), check.c_str(), "ext4", MS_RDONLY, nullptr) == 0);
  {
    std::ifstream f(check / "journal.txt");
    std::string line;
    CHECK(std::getline(f, line));
    CHECK(line == "written before the detach");
  }
  REQUIRE(::umount(check.c_str()) == 0);

  // The remove event that follows: nothing left to do, no second hook.
  auto rm = lab.disk({"remove", loop});
  INFO(rm.err);
  CHECK(rm.exit_code == 0);
  CHECK(rm.err.find("90-unmount-disk: unchanged") != std::string::npos);
  CHECK(lab.hooks_log() == "pre-disk-detach /dev/" + loop + " " + mp.string() + "\n");
  CHECK(agent.log().find("prepare-detach " + loop + ": ready") != std::string::npos);

  // status says what was prepared last, and there is no disk left.
  auto status = agent.ctl({"status"});
  INFO(status.dump(2));
  CHECK(status["result"]["disks"].empty());
  CHECK(status["result"]["last_prepare"]["detach"]["state"] == "ready");
}

TEST_CASE(
    "prepare-detach: a mount below the disk's mountpoint or a cwd there is busy, "
    "and bad selectors are invalid",
    "[prepare-detach]") {
  gt::DiskLab lab;
  lab.add_logging_hook("pre-disk-detach");
  auto loop = lab.add_loop(32);
  lab.must({"mkfs.ext4", "-q", "-L", "web", "/dev/" + loop});
  REQUIRE(lab.disk({"add", loop}).exit_code == 0);
  const auto mp = lab.srv() / "web";
  fs::create_directories(mp / "cache");
  REQUIRE(::mount("tmpfs", (mp / "cache").c_str(), "tmpfs", 0, "size=1m") == 0);

  Agent agent(lab);
  int code = -1;
  auto a = agent.ctl({"prepare-detach", mp.string()}, &code);
  INFO(a.dump(2));
  CHECK(code == 1);
  CHECK(a["result"]["state"] == "busy");
  bool below = false;
  for (const auto& h : a["result"]["holders"])
    below = below || (h["type"] == "mount" && h["target"] == (mp / "cache").string());
  CHECK(below);
  REQUIRE(::umount((mp / "cache").c_str()) == 0);

  // A shell whose working directory is on the disk.
  Child shell;
  shell.pid = gt::fork_child();
  if (shell.pid == 0) {
    if (::chdir(mp.c_str()) != 0) ::_exit(126);
    ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(200ms);
  a = agent.ctl({"prepare-detach", loop}, &code);
  INFO(a.dump(2));
  CHECK(a["result"]["state"] == "busy");
  bool cwd = false;
  for (const auto& h : a["result"]["holders"])
    cwd = cwd ||
          (h["type"] == "process" && h["pid"] == shell.pid && h["uses"] == json::array({"cwd"}));
  CHECK(cwd);
  CHECK(lab.hooks_log().empty());
  shell.stop();

  for (std::vector<std::string> bad : {std::vector<std::string>{"prepare-detach", "serial:nosuch"},
                                       {"prepare-detach", "pci:0000:00:99.0"},
                                       {"prepare-detach", "../../etc"},
                                       {"prepare-detach", "label:nosuch"}}) {
    auto e = agent.ctl(bad, &code);
    INFO(e.dump(2));
    CHECK(code == 2);
    CHECK(e["ok"] == false);
    CHECK(e["error"]["code"] == "invalid");
  }
  auto ready = agent.ctl({"prepare-detach", "label:web"}, &code);
  CHECK(ready["result"]["state"] == "ready");
  CHECK(lab.mountinfo_of(mp).empty());
}
