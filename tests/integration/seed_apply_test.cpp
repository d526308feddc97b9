// guestkit-seed as the boot runs it (the real binary, `apply` and `show`) on a temp
// root with real shadow-utils: a NoCloud directory, a ConfigDrive directory, the
// guestkit/ and gandi/ in-swap layouts. Users, keys, sudo, hostname, hashes checked
// with crypt(3), the agent key (0600, and the agent accepts it); a second apply and
// a seed for an instance already provisioned change nothing; neither `show` nor
// seed.json nor argv holds a secret.

#include <crypt.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "agent/state.hpp"
#include "core/config.hpp"
#include "core/exec.hpp"
#include "core/files.hpp"
#include "plugins/provision/password.hpp"
#include "plugins/provision/user_details.hpp"
#include "tests/support.hpp"

namespace gc = guestkit::core;
namespace gt = guestkit::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kKey1 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@one";
const std::string kKey2 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk1xvZqgE3Y4D1sG2q5m3jvO1R4Xf5wK1l0x3YbQyZ9 u@two";

std::string agent_key() {
  return std::string("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

bool crypt_verifies(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = ::crypt_r(password.c_str(), hash.c_str(), &data);
  return out && hash == out;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

uid_t owner_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_uid;
}

// Every path under `dir` with its mode and content: to prove a run changed nothing.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    if (rel == "run" || rel.starts_with("run/")) continue;  // seed.json, run records, locks
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    std::string v = std::to_string(st.st_mode) + ":" + std::to_string(st.st_uid);
    if (e.is_regular_file() && !e.is_symlink()) {
      std::ifstream in(e.path(), std::ios::binary);
      v += ":" + std::string(std::istreambuf_iterator<char>(in), {});
    }
    out[rel] = v;
  }
  return out;
}

class SeedLab {
 public:
  SeedLab() {
    if (!gt::running_as_root()) gt::skip("the seed lab needs root (useradd --root, chown)");
    for (const char* tool : {"useradd", "usermod", "chpasswd", "chage", "gpasswd"})
      if (!gc::find_program(tool))
        gt::skip(std::string(tool) + " is not installed (package passwd)");
    tmp_.write("root/etc/passwd",
               "root:x:0:0:root:/root:/bin/bash\n"
               "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    tmp_.write(
        "root/etc/shadow",
        "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n",
        0640);
    tmp_.write("root/etc/group",
               "root:x:0:\ndaemon:x:1:\nadm:x:4:\nsudo:x:27:\nusers:x:100:\nnogroup:x:65534:\n");
    tmp_.write("root/etc/gshadow",
               "root:*::\ndaemon:*::\nadm:*::\nsudo:*::\nusers:*::\nnogroup:*::\n", 0640);
    tmp_.write("root/etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n");
    tmp_.write("root/etc/hostname", "debian\n");
    tmp_.write("root/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n");
    tmp_.write("root/etc/debian_version", "12.5\n");
    tmp_.write("root/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n");
    std::filesystem::create_directories(root() / "etc/ssh/sshd_config.d");
    tmp_.write("root/usr/share/zoneinfo/Europe/Paris", "TZif2 fake");
    tmp_.write("root/bin/sh", "", 0755);
    tmp_.write("root/bin/bash", "", 0755);
    tmp_.write("root/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    std::filesystem::create_directories(root() / "root");
    std::filesystem::create_directories(root() / "home");
  }

  fs::path root() const { return tmp_.path() / "root"; }
  const gt::TempDir& tmp() const { return tmp_; }
  std::string file(const std::string& guest) const { return tmp_.read("root" + guest); }
  bool exists(const std::string& guest) const { return fs::exists(root() / guest.substr(1)); }

  gc::ExecResult seed(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{gt::built_binary("plugins", "guestkit-seed").string(), "--root",
                                  root().string(), "--log-stderr"};
    argv.insert(argv.end(), args.begin(), args.end());
    gc::ExecOptions o;
    o.timeout = std::chrono::seconds(60);
    auto r = gc::run(argv, o);
    REQUIRE(r);
    return std::move(r).value();
  }

  std::string shadow_hash(const std::string& user) const {
    for (const auto& line : gc::split_lines(file("/etc/shadow")))
      if (line.starts_with(user + ":"))
        return line.substr(user.size() + 1, line.find(':', user.size() + 1) - user.size() - 1);
    return {};
  }
  std::string shadow_line(const std::string& user) const {
    for (const auto& line : gc::split_lines(file("/etc/shadow")))
      if (line.starts_with(user + ":")) return line;
    return {};
  }

 private:
  gt::TempDir tmp_;
};

std::string hash_of(const std::string& pw) {
  return guestkit::plugins::provision::hash_password(gc::Secret(pw)).value().reveal();
}

// What every full provision must have left, and that running it again changes nothing.
void check_key_and_again(const SeedLab& lab, const std::string& seed_dir, const std::string& id,
                         const std::vector<std::string>& secrets) {
  // The agent key: 0600 root, and the agent's own loader takes it.
  CHECK(mode_of(lab.root() / "etc/guestkit/agent.key") == 0600);
  CHECK(owner_of(lab.root() / "etc/guestkit/agent.key") == 0);
  CHECK(lab.file("/etc/guestkit/agent.key") == agent_key() + "\n");
  auto root = gc::Root::open(lab.root());
  REQUIRE(root);
  const auto key = guestkit::agent::load_agent_key(*root, gc::AgentConfig{});
  INFO(key.problem);
  CHECK(key.usable());
  // The marker the agent reads, and the instance id it greets with.
  CHECK(guestkit::agent::is_provisioned(*root, id));
  CHECK(guestkit::agent::read_instance_id(*root) == id);
  // The summary holds no secret.
  const std::string summary = lab.file("/run/guestkit/seed.json");
  CHECK(json::parse(summary)["state"] == "applied");
  CHECK(mode_of(lab.root() / "run/guestkit/seed.json") == 0644);
  const auto show = lab.seed({"--dir", seed_dir, "show"});
  CHECK(show.exit_code == 0);
  for (const auto& secret : secrets) {
    CHECK(summary.find(secret) == std::string::npos);
    CHECK(show.out.find(secret) == std::string::npos);
    CHECK(show.err.find(secret) == std::string::npos);
  }
  CHECK(show.out.find("<redacted>") != std::string::npos);
  // Again: already provisioned, nothing changes.
  const auto before = snapshot(lab.root());
  const auto again = lab.seed({"--dir", seed_dir, "apply"});
  INFO(again.out << again.err);
  CHECK(again.exit_code == 0);
  CHECK(again.out.find("already provisioned") != std::string::npos);
  CHECK(snapshot(lab.root()) == before);
}

}  // namespace

TEST_CASE("seed NoCloud directory: full provision on a temp root", "[seed-cli]") {
  SeedLab lab;
  const std::string alice_hash = hash_of("alice-pw");
  lab.tmp().write("seed/meta-data",
                  "instance-id: iid-nocloud-1\nlocal-hostname: web1\n"
                  "guestkit-agent-key: " +
                      agent_key() + "\npublic-keys:\n  - " + kKey1 + "\n");
  lab.tmp().write("seed/user-data",
                  "#cloud-config\n"
                  "fqdn: web1.example.com\n"
                  "users:\n"
                  "  - default\n"
                  "  - name: alice\n"
                  "    gecos: Alice A\n"
                  "    groups: [adm, users]\n"
                  "    sudo: ALL=(ALL) NOPASSWD:ALL\n"
                  "    lock_passwd: false\n"
                  "    hashed_passwd: '" +
                      alice_hash +
                      "'\n"
                      "    ssh_authorized_keys: ['" +
                      kKey2 +
                      "']\n"
                      "    shell: /bin/sh\n"
                      "  - name: bob\n"
                      "    passwd: '" +
                      alice_hash +
                      "'\n"
                      "  - name: carl\n"
                      "    ssh_authorized_keys: ['" +
                      kKey2 +
                      "']\n"
                      "password: Default-Pw-1\n"
                      "chpasswd:\n  expire: false\n  list: |\n    root:Root-Pw-1\n"
                      "disable_root: false\n"
                      "ssh_pwauth: true\n"
                      "timezone: Europe/Paris\n"
                      "packages: [nginx]\n"
                      "runcmd: ['echo hello > /run/hello']\n");
  const std::string dir = (lab.tmp().path() / "seed").string();
  const auto res = lab.seed({"--dir", dir, "apply"});
  INFO(res.out << res.err);
  REQUIRE(res.exit_code == 0);

  // Users: the default one (debian, from os-release) and alice.
  const auto passwd = lab.file("/etc/passwd");
  CHECK(passwd.find("\ndebian:x:1000:1000::/home/debian:/bin/bash\n") != std::string::npos);
  CHECK(passwd.find("\nalice:x:1001:1001:Alice A:/home/alice:/bin/sh\n") != std::string::npos);
  CHECK(crypt_verifies("Default-Pw-1", lab.shadow_hash("debian")));
  CHECK(lab.shadow_hash("debian").starts_with("$y$"));
  CHECK(lab.shadow_hash("alice") == alice_hash);
  CHECK(crypt_verifies("Root-Pw-1", lab.shadow_hash("root")));
  // lock_passwd (default true): the hash kept behind '!', or a bare lock.
  CHECK(lab.shadow_hash("bob") == "!" + alice_hash);
  CHECK_FALSE(crypt_verifies("alice-pw", lab.shadow_hash("bob")));
  CHECK(lab.shadow_hash("carl").starts_with("!"));
  CHECK(lab.file("/home/carl/.ssh/authorized_keys") == kKey2 + "\n");
  CHECK_FALSE(lab.exists("/etc/sudoers.d/90-guestkit-bob"));  // users default to no sudo
  const auto group = lab.file("/etc/group");
  CHECK(group.find("\nsudo:x:27:debian,alice\n") != std::string::npos);
  CHECK(group.find("\nadm:x:4:alice\n") != std::string::npos);
  CHECK(lab.file("/etc/sudoers.d/90-guestkit-alice")
            .ends_with("alice ALL=(ALL:ALL) NOPASSWD: ALL\n"));
  CHECK(lab.file("/etc/sudoers.d/90-guestkit-debian")
            .ends_with("debian ALL=(ALL:ALL) NOPASSWD: ALL\n"));
  // Keys: meta-data's go to the default user and (disable_root: false) root.
  CHECK(lab.file("/home/debian/.ssh/authorized_keys") == kKey1 + "\n");
  CHECK(lab.file("/root/.ssh/authorized_keys") == kKey1 + "\n");
  CHECK(lab.file("/home/alice/.ssh/authorized_keys") == kKey2 + "\n");
  CHECK(owner_of(lab.root() / "home/alice/.ssh/authorized_keys") == 1001);
  // Host, sshd, zone, runcmd.
  CHECK(lab.file("/etc/hostname") == "web1.example.com\n");
  CHECK(lab.file("/etc/ssh/sshd_config.d/40-guestkit-pwauth.conf")
            .ends_with("PasswordAuthentication yes\n"));
  CHECK(fs::read_symlink(lab.root() / "etc/localtime") == "../usr/share/zoneinfo/Europe/Paris");
  CHECK(lab.file("/var/lib/guestkit/postboot/60-runcmd").ends_with("echo hello > /run/hello\n"));
  CHECK(mode_of(lab.root() / "var/lib/guestkit/postboot/60-runcmd") == 0700);
  // Reported, not dropped.
  const auto summary = json::parse(lab.file("/run/guestkit/seed.json"));
  CHECK(summary["not_applied"].dump().find("user-data: packages") != std::string::npos);
  CHECK(summary["source"] == "nocloud");
  CHECK(summary["agent_key"]["source"] == "meta-data guestkit-agent-key");

  check_key_and_again(lab, dir, "iid-nocloud-1",
                      {"Default-Pw-1", "Root-Pw-1", alice_hash, lab.shadow_hash("debian"),
                       lab.shadow_hash("root"), agent_key()});

  SECTION("a new instance id: the key is replaced, the new order applied") {
    lab.tmp().write("seed/meta-data",
                    "instance-id: iid-nocloud-2\nlocal-hostname: web2\n"
                    "guestkit-agent-key: " +
                        std::string(64, 'e') + "\n");
    lab.tmp().write("seed/user-data", "#cloud-config\nusers: []\n");
    const auto second = lab.seed({"--dir", dir, "apply"});
    INFO(second.out << second.err);
    CHECK(second.exit_code == 0);
    CHECK(lab.file("/etc/guestkit/agent.key") == std::string(64, 'e') + "\n");
    CHECK(lab.file("/etc/hostname") == "web2\n");
    CHECK(lab.file("/etc/guestkit/instance-id") == "iid-nocloud-2\n");
  }
}

// lock_passwd on an account already locked runs no usermod: usermod --lock would
// change nothing but still rewrite and fsync every account file (each sync a disk
// flush on the first boot's path to sshd, bench/README.md seed-first-boot). Seen by
// /etc/shadow's inode: shadow-utils replaces the file whenever it runs.
TEST_CASE("seed lock_passwd: an account already locked is left alone, others locked",
          "[seed-cli]") {
  SeedLab lab;
  const std::string hash = hash_of("dora-pw");
  lab.tmp().write("seed/meta-data", "instance-id: iid-lock-1\n");
  lab.tmp().write("seed/user-data",
                  "#cloud-config\nusers:\n  - name: carl\n    ssh_authorized_keys: ['" + kKey2 +
                      "']\n  - name: dora\n    lock_passwd: false\n    hashed_passwd: '" + hash +
                      "'\n");
  const auto res = lab.seed({"--dir", (lab.tmp().path() / "seed").string(), "apply"});
  INFO(res.out << res.err);
  REQUIRE(res.exit_code == 0);
  REQUIRE(lab.shadow_hash("carl") == "!");  // useradd's own lock, no usermod needed
  REQUIRE(lab.shadow_hash("dora") == hash);
  auto root = gc::Root::open(lab.root());
  REQUIRE(root);
  struct stat before {};
  REQUIRE(::stat((lab.root() / "etc/shadow").c_str(), &before) == 0);
  const auto shadow_before = lab.file("/etc/shadow");

  REQUIRE(guestkit::plugins::provision::lock_password(*root, "carl"));
  struct stat after {};
  REQUIRE(::stat((lab.root() / "etc/shadow").c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);  // not rewritten: usermod did not run
  CHECK(lab.file("/etc/shadow") == shadow_before);

  // An open hash is locked (by usermod: the file is replaced), and then left alone.
  REQUIRE(guestkit::plugins::provision::lock_password(*root, "dora"));
  CHECK(lab.shadow_hash("dora") == "!" + hash);
  REQUIRE(::stat((lab.root() / "etc/shadow").c_str(), &before) == 0);
  REQUIRE(guestkit::plugins::provision::lock_password(*root, "dora"));
  REQUIRE(::stat((lab.root() / "etc/shadow").c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(lab.shadow_hash("dora") == "!" + hash);
  // A name that only prefixes an account is not that account.
  CHECK_FALSE(guestkit::plugins::provision::lock_password(*root, "car"));
}

TEST_CASE("seed ConfigDrive directory: full provision", "[seed-cli]") {
  SeedLab lab;
  lab.tmp().write("cd/openstack/latest/meta_data.json",
                  json{{"uuid", "0b6f2d0e-8d6a-4a3b-9e61-1f2a3b4c5d6e"},
                       {"hostname", "os1.example.org"},
                       {"public_keys", {{"k", kKey1}}},
                       {"admin_pass", "Admin-Pass-9"},
                       {"meta", {{"guestkit_agent_key", agent_key()}}}}
                      .dump());
  lab.tmp().write("cd/openstack/latest/user_data",
                  "#cloud-config\nusers:\n  - name: ops\n    sudo: ALL=(ALL) ALL\n"
                  "    plain_text_passwd: Ops-Pw-3\n    lock_passwd: false\n");
  const std::string dir = (lab.tmp().path() / "cd").string();
  const auto res = lab.seed({"--dir", dir, "apply"});
  INFO(res.out << res.err);
  REQUIRE(res.exit_code == 0);
  CHECK(crypt_verifies("Admin-Pass-9", lab.shadow_hash("root")));
  CHECK(crypt_verifies("Ops-Pw-3", lab.shadow_hash("ops")));
  CHECK(lab.file("/etc/sudoers.d/90-guestkit-ops").ends_with("ops ALL=(ALL:ALL) ALL\n"));
  CHECK(lab.file("/etc/hostname") == "os1.example.org\n");
  CHECK_FALSE(lab.exists("/home/debian"));  // `users` without default: no default user
  check_key_and_again(lab, dir, "0b6f2d0e-8d6a-4a3b-9e61-1f2a3b4c5d6e",
                      {"Admin-Pass-9", "Ops-Pw-3", agent_key()});
}

TEST_CASE("seed guestkit/ and gandi/ layouts: full provision", "[seed-cli]") {
  SeedLab lab;
  SECTION("guestkit/") {
    lab.tmp().write("sw/guestkit/order.json", json{{"instance_id", "vm-1001"},
                                                   {"hostname", "g1"},
                                                   {"root", {{"password", "Root-G-1"}}},
                                                   {"admin",
                                                    {{"name", "admin"},
                                                     {"password", "Admin-G-1"},
                                                     {"ssh_keys", {kKey1}},
                                                     {"sudo", "password"}}}}
                                                  .dump());
    lab.tmp().write("sw/guestkit/agent.key", agent_key() + "\n");
    lab.tmp().write("sw/guestkit/postboot/20-hello", "#!/bin/sh\necho hi\n");
    const std::string dir = (lab.tmp().path() / "sw").string();
    const auto res = lab.seed({"--dir", dir, "apply"});
    INFO(res.out << res.err);
    REQUIRE(res.exit_code == 0);
    CHECK(crypt_verifies("Root-G-1", lab.shadow_hash("root")));
    CHECK(crypt_verifies("Admin-G-1", lab.shadow_hash("admin")));
    CHECK(lab.file("/home/admin/.ssh/authorized_keys") == kKey1 + "\n");
    CHECK(lab.file("/etc/sudoers.d/90-guestkit-admin").ends_with("admin ALL=(ALL:ALL) ALL\n"));
    CHECK(lab.file("/var/lib/guestkit/postboot/20-hello") == "#!/bin/sh\necho hi\n");
    check_key_and_again(lab, dir, "vm-1001", {"Root-G-1", "Admin-G-1", agent_key()});
  }
  SECTION("gandi/") {
    lab.tmp().write("old/gandi/config", json{{"vm_hostname", "legacy1"},
                                             {"user", "gandi"},
                                             {"password", "Gandi-Pw-7"},
                                             {"ssh_key", kKey2}}
                                            .dump());
    lab.tmp().write("old/gandi/init", "#!/bin/sh\necho \"$1\"\n");
    const std::string dir = (lab.tmp().path() / "old").string();
    const auto res = lab.seed({"--dir", dir, "apply"});
    INFO(res.out << res.err);
    REQUIRE(res.exit_code == 0);
    CHECK(crypt_verifies("Gandi-Pw-7", lab.shadow_hash("gandi")));
    CHECK(lab.file("/home/gandi/.ssh/authorized_keys") == kKey2 + "\n");
    CHECK(lab.file("/etc/sudoers.d/90-guestkit-gandi").ends_with("gandi ALL=(ALL:ALL) ALL\n"));
    CHECK(lab.file("/etc/hostname") == "legacy1\n");
    const auto wrapper = lab.file("/var/lib/guestkit/postboot/50-gandi-init");
    // The wrapper really runs the program with --postboot.
    const auto ran =
        gc::run({"/bin/sh", (lab.root() / "var/lib/guestkit/postboot/50-gandi-init").string()});
    REQUIRE(ran);
    CHECK(ran->out == "--postboot\n");
    // No instance id in gandi/config: the VM's own (here /etc/machine-id).
    auto root = gc::Root::open(lab.root());
    CHECK(guestkit::agent::is_provisioned(*root, "0123456789abcdef0123456789abcdef"));
    CHECK(lab.file("/run/guestkit/seed.json").find("Gandi-Pw-7") == std::string::npos);
  }
}

TEST_CASE("seed for an instance already provisioned, or invalid, changes nothing", "[seed-cli]") {
  SeedLab lab;
  lab.tmp().write("seed/meta-data",
                  "instance-id: iid-done\nguestkit-agent-key: " + agent_key() + "\n");
  lab.tmp().write("seed/user-data", "#cloud-config\nhostname: other\npassword: X-Pw-1\n");
  const std::string dir = (lab.tmp().path() / "seed").string();
  SECTION("already provisioned (by the agent)") {
    lab.tmp().write("root/var/lib/guestkit/provisioned/iid-done", "{}\n", 0600);
    const auto before = snapshot(lab.root());
    const auto res = lab.seed({"--dir", dir, "apply"});
    INFO(res.out << res.err);
    CHECK(res.exit_code == 0);
    CHECK(res.out.find("already provisioned") != std::string::npos);
    CHECK(snapshot(lab.root()) == before);
  }
  SECTION("invalid: a group the image lacks rejects the whole seed") {
    lab.tmp().write("seed/user-data",
                    "#cloud-config\nhostname: other\nusers:\n  - name: z\n    groups: [wheelz]\n");
    const auto before = snapshot(lab.root());
    const auto res = lab.seed({"--dir", dir, "apply"});
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("users[0].groups: no group 'wheelz' in the image") != std::string::npos);
    CHECK(snapshot(lab.root()) == before);
    CHECK(json::parse(lab.file("/run/guestkit/seed.json"))["state"] == "refused");
  }
  SECTION("invalid: user-data that is not YAML names the line") {
    lab.tmp().write("seed/user-data", "#cloud-config\nhostname: a\nusers: [x\n  - : :\n");
    const auto before = snapshot(lab.root());
    const auto res = lab.seed({"--dir", dir, "apply"});
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("user-data: line ") != std::string::npos);
    CHECK(snapshot(lab.root()) == before);
  }
  SECTION("--dry-run changes nothing") {
    const auto before = snapshot(lab.root());
    const auto res = lab.seed({"--dir", dir, "--dry-run", "apply"});
    INFO(res.out << res.err);
    CHECK(res.exit_code == 0);
    CHECK(res.out.find("would") != std::string::npos);
    CHECK(snapshot(lab.root()) == before);
  }
  SECTION("under --root without --dir, --device or seed.device: no seed, nothing done") {
    const auto res = lab.seed({"apply"});
    CHECK(res.exit_code == 0);
    CHECK(res.out.find("no seed") != std::string::npos);
  }
}
