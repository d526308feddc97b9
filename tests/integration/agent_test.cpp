// guestkit-agent through a real xinetd, driven by the real guestkit-ctl (and by a
// raw client for the attacks), provisioning a temp root with real shadow-utils.

#include <crypt.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/client.hpp"
#include "agent/state.hpp"
#include "core/encoding.hpp"
#include "core/files.hpp"
#include "tests/integration/agent_fixture.hpp"

namespace ga = guestkit::agent;
namespace gc = guestkit::core;
namespace gt = guestkit::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kKeys[] = {
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@ed25519",
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDwxc2dZqZ8mQO/omJmoiX5wjZ9zUbxLsMzim"
    "zV3bnAHicl5/0Rud4I4k86GjOZgPfpCF5r5zN9z2etnXHuwUYs= u@ecdsa",
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCr3zrshjiSwBUFofP22K3cEBIyBXYqkrXgCLupGaibvfoe/"
    "SdJ8NU1b0Ll5U3bjuqNLtxML"
    "mXavWAObupoUB19wNEjx1tn0TlMAS4NF6yRlRfENSuaktmjP1lh/"
    "iarWXZd4vPddCRlngqOL0ALcRiS1WjEcL3DgMAVml2rEcxoBw== u@rsa",
};
const std::string kRootPassword = "Root-Pa55word-7c1d";
const std::string kAdminPassword = "Admin-Pa55word-93ab";

std::string order_yaml(const std::string& instance_id, const std::string& admin = "admin",
                       const std::string& hostname = "web1.example.com",
                       const std::string& sudo = "nopasswd") {
  std::string keys;
  for (const auto& k : kKeys) keys += "    - \"" + k + "\"\n";
  return "instance_id: " + instance_id + "\nhostname: " + hostname + "\nroot:\n  password: \"" +
         kRootPassword + "\"\n  ssh_keys:\n" + keys + "admin:\n  name: \"" + admin +
         "\"\n  password: \"" + kAdminPassword + "\"\n  sudo: " + sudo +
         "\n  groups: [adm]\n  ssh_keys:\n" + keys;
}

std::string shadow_hash(const gt::AgentLab& lab, const std::string& user) {
  for (const auto& line : gc::split_lines(lab.root_file("/etc/shadow")))
    if (line.starts_with(user + ":"))
      return line.substr(user.size() + 1, line.find(':', user.size() + 1) - user.size() - 1);
  return {};
}

bool crypt_verifies(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = ::crypt_r(password.c_str(), hash.c_str(), &data);
  return out && hash == out;
}

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

uid_t owner_of(const std::filesystem::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_uid;
}

ga::SecretBytes lab_key(const gt::AgentLab& lab) {
  auto key = ga::parse_key_text(lab.tmp().read("ctl.key"));
  REQUIRE(key);
  return std::move(*key);
}

json read_json(ga::Client& client) {
  auto line = client.read_line();
  REQUIRE(line);
  auto body = client.open_response(*line);
  REQUIRE(body);
  return *body;
}

}  // namespace

TEST_CASE("agent full provision through xinetd", "[agent-xinetd]") {
  gt::AgentLab lab;
  gt::RecordingProxy proxy(lab.port());
  const auto order = lab.tmp().write("order.yml", order_yaml(lab.instance_id()));
  gt::ArgvWatcher watcher;
  const auto res = lab.ctl(
      {"--connect", "tcp:127.0.0.1:" + std::to_string(proxy.port()), "provision", order.string()});
  const auto argvs = watcher.stop();
  INFO(res.out << res.err << lab.agent_log());
  REQUIRE(res.exit_code == 0);
  CHECK(res.out.find("10-set-hostname") != std::string::npos);
  CHECK(res.out.find("40-install-ssh-keys") != std::string::npos);
  CHECK(res.out.find("provisioned " + lab.instance_id()) != std::string::npos);

  // Passwords: hashes that verify, yescrypt.
  const auto root_hash = shadow_hash(lab, "root");
  const auto admin_hash = shadow_hash(lab, "admin");
  CHECK(root_hash.starts_with("$y$"));
  CHECK(crypt_verifies(kRootPassword, root_hash));
  CHECK(crypt_verifies(kAdminPassword, admin_hash));
  CHECK_FALSE(crypt_verifies(kRootPassword, admin_hash));
  // The user, its groups, its home.
  CHECK(lab.root_file("/etc/passwd").find("\nadmin:x:1000:1000::/home/admin:") !=
        std::string::npos);
  const auto group = lab.root_file("/etc/group");
  CHECK(group.find("\nsudo:x:27:admin\n") != std::string::npos);
  CHECK(group.find("\nadm:x:4:admin\n") != std::string::npos);
  const auto home = lab.root() / "home/admin";
  CHECK(owner_of(home) == 1000);
  CHECK(owner_of(home / ".ssh") == 1000);
  CHECK(mode_of(home / ".ssh") == 0700);
  CHECK(mode_of(home / ".ssh/authorized_keys") == 0600);
  CHECK(owner_of(home / ".ssh/authorized_keys") == 1000);
  const std::string all_keys = kKeys[0] + "\n" + kKeys[1] + "\n" + kKeys[2] + "\n";
  CHECK(lab.root_file("/home/admin/.ssh/authorized_keys") == all_keys);
  CHECK(lab.root_file("/root/.ssh/authorized_keys") == all_keys);
  CHECK(mode_of(lab.root() / "root/.ssh") == 0700);
  // sudo
  CHECK(mode_of(lab.root() / "etc/sudoers.d/90-guestkit-admin") == 0440);
  CHECK(lab.root_file("/etc/sudoers.d/90-guestkit-admin")
            .ends_with("\nadmin ALL=(ALL:ALL) NOPASSWD: ALL\n"));
  // hostname
  CHECK(lab.root_file("/etc/hostname") == "web1.example.com\n");
  CHECK(lab.root_file("/etc/hosts") ==
        "127.0.0.1\tlocalhost\n127.0.1.1\tweb1.example.com web1\n::1\tlocalhost ip6-localhost\n");
  // marker, retirement of the image's xinetd entry
  CHECK(std::filesystem::exists(lab.root() / "var/lib/guestkit/provisioned" / lab.instance_id()));
  CHECK(lab.root_file("/etc/xinetd.d/guestkit-agent").find("\tdisable\t\t= yes\n") !=
        std::string::npos);

  // No secret in clear on the wire, in the log, or in any process's argv.
  const std::string wire = proxy.captured();
  CHECK(wire.find("\"challenge\"") != std::string::npos);  // the capture did see the session
  const auto log = lab.agent_log();
  for (const std::string& secret : {kRootPassword, kAdminPassword, root_hash, admin_hash,
                                    root_hash.substr(root_hash.rfind('$') + 1)}) {
    CHECK(wire.find(secret) == std::string::npos);
    CHECK(log.find(secret) == std::string::npos);
    for (const auto& argv : argvs) CHECK(argv.find(secret) == std::string::npos);
  }
  // The watcher saw the children (so its silence above means something).
  bool saw_chpasswd = false;
  for (const auto& argv : argvs)
    saw_chpasswd = saw_chpasswd || argv.find("chpasswd") != std::string::npos;
  CHECK(saw_chpasswd);
  CHECK(wire.find("web1.example.com") == std::string::npos);  // the whole order is sealed

  SECTION("a second order is already provisioned, and changes nothing") {
    const auto shadow = lab.root_file("/etc/shadow");
    const auto again = lab.ctl({"provision", order.string()});
    CHECK(again.exit_code == 2);
    CHECK(again.err.find("already_provisioned") != std::string::npos);
    CHECK(lab.root_file("/etc/shadow") == shadow);
  }
  SECTION("force runs it again, idempotently") {
    const auto again = lab.ctl({"--force", "provision", order.string()});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
    CHECK(lab.root_file("/home/admin/.ssh/authorized_keys") == all_keys);
    CHECK(crypt_verifies(kAdminPassword, shadow_hash(lab, "admin")));
  }
  SECTION("force with sudo: none takes sudo away: group and drop-in") {
    const auto no_sudo = lab.tmp().write(
        "no-sudo.yml", order_yaml(lab.instance_id(), "admin", "web1.example.com", "none"));
    const auto again = lab.ctl({"--force", "provision", no_sudo.string()});
    INFO(again.out << again.err << lab.agent_log());
    CHECK(again.exit_code == 0);
    const auto groups = lab.root_file("/etc/group");
    CHECK(groups.find("\nsudo:x:27:\n") != std::string::npos);
    CHECK(groups.find("\nadm:x:4:admin\n") != std::string::npos);  // its other groups stay
    CHECK_FALSE(std::filesystem::exists(lab.root() / "etc/sudoers.d/90-guestkit-admin"));
    // Idempotent: nothing left to leave the second time.
    const auto third = lab.ctl({"--force", "provision", no_sudo.string()});
    CHECK(third.exit_code == 0);
    CHECK(lab.root_file("/etc/group") == groups);
  }
}

TEST_CASE("agent refuses forged, tampered, reused and replayed requests", "[agent-xinetd]") {
  gt::AgentLab lab;
  const auto key = lab_key(lab);

  SECTION("wrong key") {
    const auto keyfile = lab.tmp().write("wrong.key", std::string(64, 'e') + "\n", 0600);
    const auto res = lab.ctl({"--key", keyfile.string(), "set-hostname", "evil"}, {}, false);
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("auth") != std::string::npos);
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
    CHECK(lab.agent_log().find("does not authenticate") != std::string::npos);
  }
  SECTION("one flipped bit in the box") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    auto line = client->seal_request({{"id", 1},
                                      {"op", "set-hostname"},
                                      {"instance_id", lab.instance_id()},
                                      {"args", {{"hostname", "evil"}}}});
    auto envelope = json::parse(*line);
    auto box = *gc::base64_decode(envelope["box"].get<std::string>());
    box[box.size() / 2] ^= 0x04;
    envelope["box"] = gc::base64_encode(box);
    REQUIRE(client->send_line(envelope.dump()));
    const auto answer = read_json(*client);
    CHECK(answer ==
          json{{"ok", false}, {"error", {{"code", "auth"}, {"message", "authentication failed"}}}});
    CHECK_FALSE(client->read_line());  // and the connection is closed
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
  }
  SECTION("a nonce used twice on one connection") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    auto line = client->seal_request(
        {{"id", 1}, {"op", "info"}, {"instance_id", lab.instance_id()}, {"args", json::object()}});
    REQUIRE(client->send_line(*line));
    CHECK(read_json(*client)["ok"] == true);
    REQUIRE(client->send_line(*line));
    CHECK(read_json(*client)["error"]["code"] == "auth");
    CHECK(lab.agent_log().find("nonce reused on this connection") != std::string::npos);
  }
  SECTION("a captured request replayed on a new connection") {
    std::string captured;
    {
      auto first = ga::Client::open(lab.connect_spec(), &key, 10s);
      REQUIRE(first);
      captured = *first->seal_request({{"id", 7},
                                       {"op", "set-hostname"},
                                       {"instance_id", lab.instance_id()},
                                       {"args", {{"hostname", "first"}}}});
      REQUIRE(first->send_line(captured));
      CHECK(read_json(*first)["ok"] == true);
    }
    CHECK(lab.root_file("/etc/hostname") == "first\n");
    lab.tmp().write("root/etc/hostname", "debian\n");
    auto second = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(second);
    REQUIRE(second->send_line(captured));
    CHECK(read_json(*second)["error"]["code"] == "auth");
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
  }
  SECTION("an order for another instance") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    auto line = client->seal_request({{"id", 1},
                                      {"op", "set-hostname"},
                                      {"instance_id", "vm-other"},
                                      {"args", {{"hostname", "evil"}}}});
    REQUIRE(client->send_line(*line));
    const auto answer = read_json(*client);
    CHECK(answer["error"]["code"] == "wrong_instance");
    CHECK(answer["id"] == 1);
    const auto order = lab.tmp().write("other.yml", order_yaml("vm-other"));
    const auto res = lab.ctl({"provision", order.string()});
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("wrong_instance") != std::string::npos);
    CHECK(shadow_hash(lab, "root") == "*");
  }
  SECTION("clear orders are refused; clear info is answered") {
    auto client = ga::Client::open(lab.connect_spec(), nullptr, 10s);
    REQUIRE(client);
    REQUIRE(client->send_line(json{
        {"id", 1},
        {"op", "set-hostname"},
        {"instance_id", lab.instance_id()},
        {"args",
         {{"hostname", "evil"}}}}.dump()));
    CHECK(read_json(*client)["error"]["code"] == "auth");
    REQUIRE(client->send_line(R"({"id":2,"op":"info"})"));
    const auto info = read_json(*client);
    CHECK(info["result"]["instance_id"] == lab.instance_id());
    CHECK(lab.root_file("/etc/hostname") == "debian\n");
  }
}

TEST_CASE("agent limits: long lines, silent peers, malformed JSON, unknown ops", "[agent-xinetd]") {
  gt::AgentLab lab({"  read_timeout: 1s\n  session_timeout: 30s\n"});
  const auto key = lab_key(lab);

  SECTION("a 1 MiB line is refused and the connection closed") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    (void)client->send_line(std::string(1 << 20, 'x'));  // the agent may close before all is sent
    auto line = client->read_line();
    REQUIRE(line);
    CHECK(json::parse(*line)["error"]["code"] == "too_long");
    CHECK_FALSE(client->read_line());
  }
  SECTION("a silent peer is cut off after read_timeout") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    const auto t0 = std::chrono::steady_clock::now();
    auto line = client->read_line();
    REQUIRE(line);
    CHECK(json::parse(*line)["error"]["code"] == "timeout");
    CHECK_FALSE(client->read_line());
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= 900ms);
    CHECK(waited < 5s);
  }
  SECTION("malformed JSON and unknown ops keep the connection") {
    auto client = ga::Client::open(lab.connect_spec(), &key, 10s);
    REQUIRE(client);
    REQUIRE(client->send_line("{\"id\": 1, \"op\": "));
    CHECK(read_json(*client)["error"]["code"] == "bad_request");
    auto answer = client->call("reboot-now", json::object());
    REQUIRE(answer);
    CHECK((*answer)["error"]["code"] == "unknown_op");
    auto info = client->call("info", json::object());
    REQUIRE(info);
    CHECK((*info)["ok"] == true);
  }
}

TEST_CASE("agent peer outside allow_from gets nothing", "[agent-xinetd]") {
  gt::AgentLab lab({"  allow_from: [\"192.0.2.0/24\", \"unix\"]\n"});
  auto fd = ga::connect_to(lab.connect_spec(), 5s);
  REQUIRE(fd);
  char buf[64];
  pollfd p{fd->get(), POLLIN, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);  // closed without a greeting
  CHECK(n == 0);
  std::this_thread::sleep_for(100ms);
  CHECK(lab.agent_log().find("not in agent.allow_from") != std::string::npos);
}

TEST_CASE("agent rejects a bad field in an order whole", "[agent-xinetd]") {
  gt::AgentLab lab;
  const auto passwd = lab.root_file("/etc/passwd");
  const std::pair<std::string, std::string> cases[] = {
      {order_yaml(lab.instance_id(), "root:"), "admin.name"},
      {order_yaml(lab.instance_id(), "../x"), "admin.name"},
      {order_yaml(lab.instance_id(), "daemon"), "system account"},
      {order_yaml(lab.instance_id(), "admin", "web_1.example.com"), "hostname"},
      {order_yaml(lab.instance_id()) + "    - \"ssh-ed25519 AAAAnotakey\"\n", "admin.ssh_keys[3]"},
  };
  for (const auto& [yaml, field] : cases) {
    const auto order = lab.tmp().write("bad.yml", yaml);
    const auto res = lab.ctl({"provision", order.string()});
    INFO(yaml << res.err);
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("invalid") != std::string::npos);
    CHECK(res.err.find(field) != std::string::npos);
  }
  CHECK(lab.root_file("/etc/passwd") == passwd);
  CHECK(shadow_hash(lab, "root") == "*");
  CHECK(lab.root_file("/etc/hostname") == "debian\n");
  CHECK_FALSE(std::filesystem::exists(lab.root() / "root/.ssh"));
  CHECK_FALSE(std::filesystem::exists(lab.root() / "var/lib/guestkit/provisioned"));
}

TEST_CASE("agent refuses planted symlinks and leaves them untouched", "[agent-xinetd]") {
  gt::AgentLab lab;
  lab.tmp().write("root/root/.ssh/authorized_keys", "# root's own\n", 0600);
  const auto shadow = lab.root_file("/etc/shadow");
  const auto order = lab.tmp().write("order.yml", order_yaml(lab.instance_id()));

  SECTION("~admin/.ssh -> /root/.ssh") {
    std::filesystem::create_directories(lab.root() / "home/admin");
    std::filesystem::create_symlink("/root/.ssh", lab.root() / "home/admin/.ssh");
    const auto res = lab.ctl({"provision", order.string()});
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("symlink") != std::string::npos);
    CHECK(lab.root_file("/root/.ssh/authorized_keys") == "# root's own\n");
    CHECK(std::filesystem::is_symlink(lab.root() / "home/admin/.ssh"));
    CHECK(lab.root_file("/etc/shadow") == shadow);
  }
  SECTION("~admin/.ssh/authorized_keys -> /etc/shadow, planted after the user exists") {
    const auto first = lab.tmp().write(
        "admin.yml", "instance_id: " + lab.instance_id() + "\nadmin: {name: admin, sudo: none}\n");
    REQUIRE(lab.ctl({"provision", first.string()}).exit_code == 0);
    std::filesystem::create_directories(lab.root() / "home/admin/.ssh");
    std::filesystem::create_symlink("/etc/shadow", lab.root() / "home/admin/.ssh/authorized_keys");
    const auto before = lab.root_file("/etc/shadow");
    const auto keys = lab.tmp().write("keys.pub", kKeys[0] + "\n");
    const auto res = lab.ctl({"ssh-keys", "admin", "--add", keys.string()});
    CHECK(res.exit_code == 2);
    CHECK(res.err.find("symlink") != std::string::npos);
    CHECK(lab.root_file("/etc/shadow") == before);
    CHECK(std::filesystem::is_symlink(lab.root() / "home/admin/.ssh/authorized_keys"));
  }
}

TEST_CASE("agent single ops: set-password, ssh-keys, status", "[agent-xinetd]") {
  gt::AgentLab lab;
  auto res = lab.ctl({"set-password", "root"}, "An0ther-secret\n");
  INFO(res.out << res.err);
  CHECK(res.exit_code == 0);
  CHECK(crypt_verifies("An0ther-secret", shadow_hash(lab, "root")));
  CHECK(lab.ctl({"set-password", "daemon"}, "x\n").exit_code == 2);
  const auto keys = lab.tmp().write("keys.pub", kKeys[0] + "\n" + kKeys[1] + "\n");
  CHECK(lab.ctl({"ssh-keys", "root", "--add", keys.string()}).exit_code == 0);
  const auto one = lab.tmp().write("one.pub", kKeys[0] + "\n");
  res = lab.ctl({"ssh-keys", "root", "--remove", one.string(), "--list"});
  CHECK(res.exit_code == 0);
  CHECK(res.out == kKeys[1] + "\n");
  res = lab.ctl({"--json", "status"});
  CHECK(res.exit_code == 0);
  CHECK(json::parse(res.out)["result"]["provisioned"] == false);
  // --instance-id: checked against the greeting before anything is sent.
  CHECK(lab.ctl({"--instance-id", lab.instance_id(), "status"}).exit_code == 0);
  const std::string log_before = lab.agent_log();
  res = lab.ctl({"--instance-id", "vm-other", "set-hostname", "elsewhere"});
  CHECK(res.exit_code == 2);
  CHECK(res.err.find("is instance '" + lab.instance_id() + "', not 'vm-other': nothing sent") !=
        std::string::npos);
  CHECK(lab.root_file("/etc/hostname") != "elsewhere\n");
  CHECK(lab.agent_log().find("set-hostname", log_before.size()) == std::string::npos);
  const auto order = lab.tmp().write("order.yml", order_yaml(lab.instance_id()));
  res = lab.ctl({"--instance-id", "vm-other", "provision", order.string()});
  CHECK(res.exit_code == 2);
  CHECK(res.err.find("the order is for instance \"" + lab.instance_id() +
                     "\", --instance-id says 'vm-other'") != std::string::npos);
  CHECK(lab.agent_log().find("An0ther-secret") == std::string::npos);
}

TEST_CASE("agent single ops obey plugins.enabled and run plugins.d/<op>/", "[agent-xinetd]") {
  gt::AgentLabOptions options;
  options.agent_yml = "  read_timeout: 5s\nplugins:\n  enabled: {10-set-hostname: false}\n";
  gt::AgentLab lab(options);
  lab.tmp().write("root/etc/guestkit/plugins.d/set-password/50-log",
                  "#!/bin/sh\necho \"$GUESTKIT_TRIGGER $GUESTKIT_PLUGIN $GUESTKIT_USER\" >> "
                  "\"$GUESTKIT_ROOT/calls\"\n",
                  0755);
  auto res = lab.ctl({"set-hostname", "web9"});
  INFO(res.out << res.err << lab.agent_log());
  CHECK(res.exit_code == 2);
  CHECK(res.err.find("set-hostname refused: 10-set-hostname is switched off") != std::string::npos);
  CHECK(lab.root_file("/etc/hostname") == "debian\n");

  const auto password = lab.ctl({"set-password", "root"}, "An0ther-secret\n");
  INFO(password.out << password.err << lab.agent_log());
  CHECK(password.exit_code == 0);
  CHECK(crypt_verifies("An0ther-secret", shadow_hash(lab, "root")));
  CHECK(lab.root_file("/calls") == "set-password 50-log root\n");
  const auto record = json::parse(lab.root_file("/run/guestkit/runs/set-password.json"));
  REQUIRE(record["plugins"].size() == 3);
  CHECK(record["plugins"][0]["name"] == "20-set-root-password");
  CHECK(record["plugins"][0]["status"] == "changed");
  CHECK(record["plugins"][1]["name"] == "30-create-admin-user");
  CHECK(record["plugins"][1]["status"] == "skipped");
  CHECK(record["plugins"][2]["name"] == "50-log");
  CHECK(lab.agent_log().find("An0ther-secret") == std::string::npos);
  CHECK(lab.root_file("/run/guestkit/runs/set-password.json").find("$y$") == std::string::npos);
}

TEST_CASE("agent --listen unix with auth none takes clear orders", "[agent-xinetd]") {
  gt::AgentLab lab;  // for the root and the tools; its xinetd stays idle
  const auto conf = lab.tmp().write("none.yml", "agent:\n  auth: none\n  allow_from: [unix]\n");
  const gt::UnixListener agent(lab, {"--config", conf.string()});
  REQUIRE(agent.ready());
  const auto res = lab.ctl({"--connect", agent.connect_spec(), "set-hostname", "plain"}, {}, false);
  INFO(res.out << res.err);
  CHECK(res.exit_code == 0);
  CHECK(lab.root_file("/etc/hostname") == "plain\n");
  CHECK(lab.tmp().read("listen.log").find("agent.auth is none") != std::string::npos);
}

namespace {

// One line from `fd` (without its '\n'), or "" after 5 s or at EOF.
std::string read_line_from(int fd) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  char c = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    if (::read(fd, &c, 1) != 1) break;
    if (c == '\n') return line;
    line += c;
  }
  return {};
}

}  // namespace

TEST_CASE("agent loads libcrypto after its greeting, and never for a keyless session",
          "[agent-xinetd]") {
  // Neither binary asks the dynamic linker for libcrypto: agent/libcrypto.cpp dlopen()s
  // it when a key is to be derived, after the greeting went out.
  for (const char* name : {"guestkit-agent", "guestkit-ctl"}) {
    const auto res = gc::run({"readelf", "--dynamic", gt::built_binary("agent", name).string()});
    REQUIRE(res.ok());
    INFO(name << ":\n" << res->out);
    REQUIRE(res->success());
    CHECK(res->out.find("(NEEDED)") != std::string::npos);
    CHECK(res->out.find("libcrypto") == std::string::npos);
  }

  // An agent without a usable key answers clear info and never maps libcrypto.
  gt::AgentLab lab;  // for the root; its xinetd stays idle
  const auto conf = lab.tmp().write("nokey.yml", "agent:\n  key_file: /etc/guestkit/absent.key\n");
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  const auto agent = gt::built_binary("agent", "guestkit-agent");
  const std::string log = (lab.tmp().path() / "nokey.log").string();
  const pid_t pid = gt::fork_child();
  if (pid == 0) {
    ::dup2(sv[1], 0);
    ::dup2(sv[1], 1);
    ::execl(agent.c_str(), "guestkit-agent", "--root", lab.root().c_str(), "--config", conf.c_str(),
            "--log-file", log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(sv[1]);
  struct Reap {
    int fd;
    pid_t pid;
    ~Reap() {
      ::close(fd);
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } reap{sv[0], pid};
  const json greeting = json::parse(read_line_from(sv[0]), nullptr, false);
  INFO(greeting.dump());
  REQUIRE(greeting.is_object());
  CHECK(greeting["challenge"].get<std::string>().size() == 64);
  const std::string request = "{\"id\":1,\"op\":\"info\"}\n";
  REQUIRE(::write(sv[0], request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  const json reply = json::parse(read_line_from(sv[0]), nullptr, false);
  INFO(reply.dump());
  CHECK(reply["ok"] == true);
  const std::string maps = gt::read_host("/proc/" + std::to_string(pid) + "/maps");
  REQUIRE_FALSE(maps.empty());
  CHECK(maps.find("libcrypto") == std::string::npos);
  CHECK(lab.tmp().read("nokey.log").find("no usable agent key") != std::string::npos);
}

TEST_CASE("agent retirement reloads the real xinetd its pid file names, and nothing else",
          "[agent-xinetd][process]") {
  gt::AgentLab lab;
  REQUIRE(lab.xinetd_pid() > 0);
  lab.tmp().write("pidroot/run/xinetd.pid", std::to_string(lab.xinetd_pid()) + "\n");
  auto pidroot = gc::Root::open(lab.tmp().path() / "pidroot");
  REQUIRE(pidroot);
  // xinetd is xinetd (comm and exe): it gets SIGHUP, rereads its config, keeps serving.
  auto reloaded = ga::reload_daemon(*pidroot, "/run/xinetd.pid", "xinetd");
  INFO((reloaded ? std::string() : reloaded.error().message()));
  REQUIRE(reloaded);
  CHECK(*reloaded == lab.xinetd_pid());
  std::this_thread::sleep_for(300ms);
  CHECK(::waitpid(lab.xinetd_pid(), nullptr, WNOHANG) == 0);  // still running
  const auto info = lab.ctl({"info"});
  INFO(info.out << info.err);
  CHECK(info.exit_code == 0);
  // Named as the inetd's pid file, xinetd is not inetd: not signalled, said so.
  auto refused = ga::reload_daemon(*pidroot, "/run/xinetd.pid", "inetd");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == gc::Errc::unsafe);
  CHECK_THAT(refused.error().message(), Catch::Contains("(xinetd), not inetd"));
  CHECK(::waitpid(lab.xinetd_pid(), nullptr, WNOHANG) == 0);
}
