// A provision killed anywhere completes on the next try. The agent and the real
// shadow-utils it runs (useradd, chpasswd, ...) are preloaded with kill_shim.cpp,
// which numbers every filesystem change they make and SIGKILLs the whole process tree
// before change N. For each N: a fresh lab, a provision killed at N, then the
// platform's retry of the same order, which must succeed (or find the instance
// already provisioned), with /etc/passwd, shadow, group and gshadow whole and
// consistent and the admin's home as useradd -m makes it.

#include <crypt.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/files.hpp"
#include "tests/integration/agent_fixture.hpp"

namespace gc = guestkit::core;
namespace gt = guestkit::test;
namespace fs = std::filesystem;

namespace {

const std::string kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@ed25519";
const std::string kAdminPassword = "Admin-Pa55word-93ab";

std::string order_yaml(const std::string& instance_id) {
  return "instance_id: " + instance_id +
         "\nhostname: web1.example.com\nroot:\n  password: \"Root-Pa55word-7c1d\"\n"
         "  ssh_keys: [\"" +
         kKey + "\"]\nadmin:\n  name: admin\n  password: \"" + kAdminPassword +
         "\"\n  sudo: nopasswd\n  groups: [adm]\n  ssh_keys: [\"" + kKey + "\"]\n";
}

struct Point {
  long number = 0;
  std::string comm, what, path;
};

std::vector<Point> read_points(const fs::path& log) {
  std::vector<Point> out;
  std::istringstream in(gt::read_host(log));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    Point p;
    words >> p.number >> p.comm >> p.what >> p.path;
    out.push_back(p);
  }
  return out;
}

// Each line of an account file: `fields` ':'-separated fields, a unique first one.
std::map<std::string, std::vector<std::string>> parse_table(const std::string& text,
                                                            std::size_t fields,
                                                            const std::string& file) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& line : gc::split_lines(text)) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      const auto at = line.find(':', start);
      f.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
      if (at == std::string::npos) break;
      start = at + 1;
    }
    INFO(file << ": " << line);
    CHECK(f.size() == fields);
    CHECK_FALSE(f[0].empty());
    CHECK(out.count(f[0]) == 0);
    out[f[0]] = f;
  }
  return out;
}

// The four files parse, agree with each other, and hold the admin as useradd made it.
void check_accounts(const gt::AgentLab& lab) {
  const auto passwd = parse_table(lab.root_file("/etc/passwd"), 7, "passwd");
  const auto shadow = parse_table(lab.root_file("/etc/shadow"), 9, "shadow");
  const auto group = parse_table(lab.root_file("/etc/group"), 4, "group");
  const auto gshadow = parse_table(lab.root_file("/etc/gshadow"), 4, "gshadow");
  std::set<std::string> gids;
  for (const auto& [name, f] : group) gids.insert(f[2]);
  for (const auto& [name, f] : passwd) {
    INFO("user " << name);
    CHECK(f[1] == "x");  // never a hash in the world-readable file
    CHECK(shadow.count(name) == 1);
    CHECK(gids.count(f[3]) == 1);
  }
  CHECK(shadow.size() == passwd.size());
  for (const auto& [name, f] : group) {
    INFO("group " << name);
    CHECK(gshadow.count(name) == 1);
  }
  CHECK(gshadow.size() == group.size());
  CHECK(passwd.count("admin") == 1);
  if (!passwd.count("admin")) return;
  const auto& admin = passwd.at("admin");
  CHECK(admin[5] == "/home/admin");
  crypt_data data{};
  const std::string hash = shadow.count("admin") ? shadow.at("admin")[1] : "";
  const char* out = ::crypt_r(kAdminPassword.c_str(), hash.c_str(), &data);
  CHECK((out && hash == out));
  CHECK(group.count("admin") == 1);
  CHECK(group.at("sudo")[3] == "admin");
  CHECK(group.at("adm")[3] == "admin");
}

void check_home(const gt::AgentLab& lab) {
  const auto home = lab.root() / "home/admin";
  struct stat st {};
  CHECK(::lstat(home.c_str(), &st) == 0);
  if (!S_ISDIR(st.st_mode)) return;
  CHECK(st.st_uid == 1000);
  CHECK(st.st_gid == 1000);
  CHECK((st.st_mode & 07777) == 0755);  // no login.defs: useradd's UMASK 022
  for (const char* name : {".profile", ".bashrc"}) {
    INFO(name);
    struct stat f {};
    CHECK(::lstat((home / name).c_str(), &f) == 0);
    CHECK(f.st_uid == 1000);
    CHECK((f.st_mode & 07777) == 0644);
    CHECK(lab.root_file(std::string("/home/admin/") + name) ==
          lab.root_file(std::string("/etc/skel/") + name));
  }
  CHECK(lab.root_file("/home/admin/.ssh/authorized_keys") == kKey + "\n");
  // No half-built home left behind.
  for (const auto& e : fs::directory_iterator(lab.root() / "home"))
    CHECK(e.path().filename() == "admin");
}

// The tools killed with their agent are orphans: this test, a child subreaper while
// it runs, gets them and reaps them, so none stays a zombie (whose pid would keep
// its shadow-utils lock looking busy; the agent also copes with that: it clears
// such locks) and nothing of the test outlives it.
class Reaper {
 public:
  Reaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~Reaper() {
    reap();
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  // Only processes that are not our direct children (xinetd and guestkit-ctl are).
  static void reap() {
    const pid_t self = ::getpid();
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = gt::read_host(e.path() / "stat");
      const auto paren = stat.rfind(')');
      if (paren == std::string::npos || paren + 4 >= stat.size() || stat[paren + 2] != 'Z')
        continue;
      if (std::stol(stat.substr(paren + 4)) == self) ::waitpid(std::stoi(name), nullptr, WNOHANG);
    }
  }
};

void add_skel(const gt::AgentLab& lab) {
  lab.tmp().write("root/etc/skel/.profile", "# ~/.profile\nPATH=\"$HOME/bin:$PATH\"\n");
  lab.tmp().write("root/etc/skel/.bashrc", "# ~/.bashrc\nHISTCONTROL=ignoreboth\n");
}

}  // namespace

TEST_CASE("a provision killed at any step completes on the next try", "[agent-kill]") {
  if (!gt::running_as_root()) gt::skip("needs root (xinetd, useradd --root, chown)");
  Reaper reaper;
  gt::TempDir shim;
  const auto library = shim.path() / "kill-shim.so";
  fs::copy_file(GUESTKIT_KILL_SHIM, library);
  const auto kill_at = [&](long n) {
    shim.write("kill.at", std::to_string(n) + "\n");
    fs::remove(shim.path() / "kill.count");
    fs::remove(shim.path() / "kill.log");
  };
  gt::AgentLabOptions options;
  options.agent_env = {{"LD_PRELOAD", library.string()}};

  // A provision never killed: the points there are to kill at. (The counter starts
  // after the lab is up: its start-up probes spawn agents too.)
  std::vector<Point> points;
  {
    gt::AgentLab lab(options);
    add_skel(lab);
    kill_at(0);
    const auto order = lab.tmp().write("order.yml", order_yaml(lab.instance_id()));
    const auto res = lab.ctl({"provision", order.string()});
    INFO(res.out << res.err << lab.agent_log());
    REQUIRE(res.exit_code == 0);
    check_accounts(lab);
    check_home(lab);
    points = read_points(shim.path() / "kill.log");
  }
  std::set<std::string> tools;
  for (const auto& p : points) tools.insert(p.comm);
  {
    std::ostringstream os;
    for (const auto& t : tools) os << t << " ";
    INFO("processes seen: " << os.str());
    for (const char* tool : {"guestkit-agent", "useradd", "chpasswd"}) CHECK(tools.count(tool));
  }
  REQUIRE(points.size() >= 20);

  // Every point: the agent's start-up, its own steps (hostname, home, keys, marker,
  // retirement) and every change inside each tool.
  const std::vector<Point>& chosen = points;
  INFO(chosen.size() << " kill points of " << points.size());
  REQUIRE(chosen.size() >= 20);

  // GUESTKIT_KILL_ONLY=N: that point alone (to study one failure).
  const char* only = ::getenv("GUESTKIT_KILL_ONLY");
  for (const auto& point : chosen) {
    if (only && std::to_string(point.number) != only) continue;
    INFO("killed before change " << point.number << ": " << point.comm << " " << point.what << " "
                                 << point.path);
    gt::AgentLab lab(options);
    add_skel(lab);
    const auto order = lab.tmp().write("order.yml", order_yaml(lab.instance_id()));
    kill_at(point.number);
    const auto killed = lab.ctl({"provision", order.string()});
    Reaper::reap();
    const auto seen = read_points(shim.path() / "kill.log");
    INFO("killed run: " << killed.out << killed.err << gt::read_host(shim.path() / "kill.log"));
    CHECK(seen.size() == static_cast<std::size_t>(point.number));
    CHECK(killed.exit_code != 0);
    kill_at(0);
    const auto retry = lab.ctl({"provision", order.string()});
    INFO("retry: " << retry.out << retry.err << lab.agent_log());
    CHECK((retry.exit_code == 0 || retry.err.find("already provisioned") != std::string::npos));
    CHECK(fs::exists(lab.root() / "var/lib/guestkit/provisioned" / lab.instance_id()));
    check_accounts(lab);
    check_home(lab);
  }
}
