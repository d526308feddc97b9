// Platform seeds -> the provision order (plugins/seed): every cloud-config key of the
// subset, every other key reported, MIME user-data, vendor-data below user-data, the
// NoCloud, ConfigDrive, guestkit/ and gandi/ layouts, the agent key, hostile input
// (not YAML, alias bombs, bad JSON, bad MIME), redaction, the directory reader.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/encoding.hpp"
#include "plugins/boot/report.hpp"
#include "plugins/plugin.hpp"
#include "plugins/provision/order.hpp"
#include "plugins/provision/password.hpp"
#include "plugins/seed/apply.hpp"
#include "plugins/seed/normalise.hpp"
#include "plugins/seed/show.hpp"
#include "plugins/seed/user_data.hpp"
#include "plugins/seed/yaml_json.hpp"
#include "tests/support.hpp"

namespace sd = guestkit::plugins::seed;
namespace pv = guestkit::plugins::provision;
namespace gc = guestkit::core;
using nlohmann::json;

namespace {

const std::string kKey1 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@one";
const std::string kKey2 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk1xvZqgE3Y4D1sG2q5m3jvO1R4Xf5wK1l0x3YbQyZ9 u@two";
const std::string kAgentKey(64, 'a');  // 32 bytes as hex

std::string a_hash() {
  static const std::string hash = pv::hash_password(gc::Secret("hashed-pw")).value().reveal();
  return hash;
}

sd::SeedFiles nocloud(std::map<std::string, std::string> files) {
  sd::SeedFiles f;
  f.kind = sd::SourceKind::nocloud;
  f.origin = "test";
  f.files = std::move(files);
  return f;
}

sd::Normalised must(const sd::SeedFiles& f, const sd::SmbiosSeed& smbios = {},
                    const std::string& default_user = "debian") {
  auto n = sd::normalise(&f, smbios, {default_user});
  INFO((n ? std::string() : n.error().message()));
  REQUIRE(n);
  return std::move(*n);
}

bool reported(const sd::Normalised& n, const std::string& key) {
  for (const auto& item : n.not_applied)
    if (item.key == key) return true;
  return false;
}

bool applied(const sd::Normalised& n, const std::string& key) {
  return std::find(n.applied.begin(), n.applied.end(), key) != n.applied.end();
}

const json* user(const json& order, const std::string& name) {
  if (!order.contains("users")) return nullptr;
  for (const auto& u : order["users"])
    if (u["name"] == name) return &u;
  return nullptr;
}

gc::Result<sd::Normalised> run(const sd::SeedFiles& f) {
  return sd::normalise(&f, {}, {});
}

// The order must also be one parse_order accepts (the whole point).
void parses(const sd::Normalised& n, const std::string& id = "iid-1") {
  json args = n.order;
  args["instance_id"] = id;
  auto order = pv::parse_order(args);
  INFO(args.dump());
  INFO((order ? std::string() : order.error().message()));
  CHECK(order);
}

}  // namespace

TEST_CASE("seed NoCloud: every key of the cloud-config subset", "[seed]") {
  const std::string user_data =
      "#cloud-config\n"
      "hostname: web1\n"
      "fqdn: web1.example.com\n"
      "users:\n"
      "  - default\n"
      "  - name: alice\n"
      "    groups: adm, users\n"
      "    sudo: ALL=(ALL) NOPASSWD:ALL\n"
      "    lock_passwd: false\n"
      "    passwd: '" +
      a_hash() +
      "'\n"
      "    ssh_authorized_keys: ['" +
      kKey2 +
      "']\n"
      "    shell: /bin/sh\n"
      "    gecos: Alice A.\n"
      "  - name: bob\n"
      "    sudo: 'ALL=(ALL:ALL) ALL'\n"
      "    plain_text_passwd: bob-pw\n"
      "    hashed_passwd: '" +
      a_hash() +
      "'\n"
      "  - name: carol\n"
      "    sudo: false\n"
      "    plain_text_passwd: carol-pw\n"
      "  - name: root\n"
      "    hashed_passwd: '" +
      a_hash() +
      "'\n"
      "chpasswd:\n"
      "  expire: true\n"
      "  users:\n"
      "    - {name: carol, password: carol-new, type: text}\n"
      "  list: |\n"
      "    bob:bob-list-pw\n"
      "password: default-pw\n"
      "ssh_authorized_keys: ['" +
      kKey1 +
      "']\n"
      "disable_root: false\n"
      "ssh_pwauth: yes\n"
      "timezone: Europe/Paris\n"
      "runcmd:\n"
      "  - echo one > /tmp/one\n"
      "  - [touch, \"/tmp/it's here\"]\n";
  const auto n = must(nocloud({{"meta-data", "instance-id: iid-1\nlocal-hostname: meta-host\n"},
                               {"user-data", user_data}}));
  const json& o = n.order;
  CHECK(n.instance_id == "iid-1");
  CHECK(o["hostname"] == "web1.example.com");  // fqdn first, then hostname, then meta-data
  CHECK(reported(n, "user-data: hostname"));
  CHECK(reported(n, "meta-data: local-hostname"));
  CHECK(o["ssh_pwauth"] == true);
  CHECK(o["timezone"] == "Europe/Paris");
  REQUIRE(o["postboot"].size() == 1);
  CHECK(o["postboot"][0]["name"] == "60-runcmd");
  CHECK(o["postboot"][0]["script"] ==
        "#!/bin/sh\n# runcmd from the platform's cloud-config (guestkit-seed)\n"
        "echo one > /tmp/one\n'touch' '/tmp/it'\\''s here'\n");

  const json* def = user(o, "debian");
  REQUIRE(def);
  CHECK((*def)["sudo"] == "nopasswd");
  CHECK((*def)["password"] == "default-pw");  // `password:` unlocks and, expire: true, expires
  CHECK_FALSE(def->contains("lock_password"));
  CHECK((*def)["expire_password"] == true);
  CHECK((*def)["ssh_keys"] == json::array({kKey1}));

  const json* alice = user(o, "alice");
  REQUIRE(alice);
  CHECK((*alice)["groups"] == json::array({"adm", "users"}));
  CHECK((*alice)["sudo"] == "nopasswd");
  CHECK((*alice)["password_hash"] == a_hash());
  CHECK_FALSE(alice->contains("lock_password"));
  CHECK_FALSE(alice->contains("expire_password"));  // not set through chpasswd
  CHECK((*alice)["ssh_keys"] == json::array({kKey2}));
  CHECK((*alice)["shell"] == "/bin/sh");
  CHECK((*alice)["gecos"] == "Alice A.");

  const json* bob = user(o, "bob");
  REQUIRE(bob);
  CHECK((*bob)["sudo"] == "password");
  CHECK((*bob)["password"] == "bob-list-pw");  // chpasswd.list replaces hashed_passwd
  CHECK((*bob)["expire_password"] == true);
  CHECK(reported(n, "user-data: users[2].plain_text_passwd"));  // hashed_passwd wins over it

  const json* carol = user(o, "carol");
  REQUIRE(carol);
  CHECK((*carol)["sudo"] == "none");
  CHECK((*carol)["password"] == "carol-new");

  CHECK(o["root"]["password_hash"] == a_hash());
  CHECK(o["root"]["ssh_keys"] == json::array({kKey1}));  // disable_root: false
  for (const char* key :
       {"user-data: fqdn", "user-data: users", "user-data: chpasswd", "user-data: password",
        "user-data: ssh_authorized_keys", "user-data: disable_root", "user-data: ssh_pwauth",
        "user-data: timezone", "user-data: runcmd", "meta-data: instance-id"})
    CHECK(applied(n, key));
  CHECK(n.not_applied.size() == 3);  // hostname, meta hostname, bob's plain_text_passwd
  parses(n);
}

TEST_CASE("seed cloud-config defaults: no users key means the default user, locked", "[seed]") {
  const auto n =
      must(nocloud({{"meta-data", "instance-id: i-2\npublic-keys:\n  - " + kKey1 + "\n"},
                    {"user-data", "#cloud-config\npreserve_hostname: true\nhostname: x\n"}}));
  const json* def = user(n.order, "debian");
  REQUIRE(def);
  CHECK((*def)["lock_password"] == true);
  CHECK((*def)["ssh_keys"] == json::array({kKey1}));
  CHECK_FALSE(n.order.contains("root"));      // disable_root defaults to true
  CHECK_FALSE(n.order.contains("hostname"));  // preserve_hostname
  CHECK(reported(n, "user-data: hostname"));
  CHECK(applied(n, "user-data: preserve_hostname"));
  parses(n, "i-2");

  SECTION("`user:` renames the default user") {
    const auto r = must(nocloud({{"user-data", "#cloud-config\nuser: ops\npassword: pw\n"}}));
    CHECK(user(r.order, "ops"));
    CHECK_FALSE(user(r.order, "debian"));
  }
  SECTION("without a default user, its keys and password are reported") {
    const auto r =
        must(nocloud({{"user-data",
                       "#cloud-config\npassword: pw\nssh_authorized_keys: ['" + kKey1 + "']\n"}}),
             {}, "");
    CHECK_FALSE(r.order.contains("users"));
    CHECK(reported(r, "user-data: users[0]"));
    CHECK(reported(r, "user-data: password"));
    CHECK(reported(r, "ssh_authorized_keys"));
  }
  SECTION("random passwords and unknown chpasswd users are reported, not applied") {
    const auto r = must(nocloud({{"user-data",
                                  "#cloud-config\nchpasswd:\n  list:\n    - root:RANDOM\n"
                                  "    - ghost:pw\n  users: [{name: root, type: RANDOM}]\n"}}));
    CHECK_FALSE(r.order.contains("root"));
    CHECK(reported(r, "user-data: chpasswd.list[0]"));
    CHECK(reported(r, "user-data: chpasswd.list[1]"));
    CHECK(reported(r, "user-data: chpasswd.users[0]"));
  }
  SECTION("a sudo rule guestkit does not write gives no sudo, and is reported") {
    const auto r = must(nocloud(
        {{"user-data", "#cloud-config\nusers:\n  - name: x\n    sudo: 'x ALL=/bin/ls'\n"}}));
    CHECK((*user(r.order, "x"))["sudo"] == "none");
    CHECK(reported(r, "user-data: users[0].sudo"));
  }
}

TEST_CASE("seed cloud-config: every unsupported key is reported by name", "[seed]") {
  const auto n = must(nocloud(
      {{"user-data",
        "#cloud-config\npackages: [nginx]\nwrite_files: [{path: /x, content: y}]\n"
        "bootcmd: [echo]\napt: {}\nmanage_etc_hosts: true\ndisable_root_opts: x\n"
        "users:\n  - name: dave\n    primary_group: staff\n    homedir: /srv/d\n    uid: 1234\n"
        "    system: true\nchpasswd: {expire: false, bogus: 1}\n"},
       {"network-config", "version: 2\n"},
       {"meta-data", "instance-id: i\ndsmode: local\nnetwork-interfaces: x\n"}}));
  for (const char* key :
       {"user-data: packages", "user-data: write_files", "user-data: bootcmd", "user-data: apt",
        "user-data: manage_etc_hosts", "user-data: disable_root_opts",
        "user-data: users[0].primary_group", "user-data: users[0].homedir",
        "user-data: users[0].uid", "user-data: users[0].system", "user-data: chpasswd.bogus",
        "network-config", "meta-data: dsmode", "meta-data: network-interfaces"})
    CHECK(reported(n, key));
  for (const auto& item : n.not_applied) CHECK_FALSE(item.why.empty());
}

TEST_CASE("seed user-data: MIME multipart", "[seed][mime]") {
  const std::string config = "#cloud-config\nhostname: mime-host\n";
  const std::string config_b64 =
      gc::base64_encode(reinterpret_cast<const std::uint8_t*>(config.data()), config.size());
  const std::string mime =
      "Content-Type: multipart/mixed; boundary=\"===============123==\"\n"
      "MIME-Version: 1.0\n"
      "\n"
      "preamble, ignored\n"
      "--===============123==\n"
      "Content-Type: text/cloud-config; charset=\"us-ascii\"\n"
      "MIME-Version: 1.0\n"
      "Content-Transfer-Encoding: base64\n"
      "Content-Disposition: attachment; filename=\"config.yaml\"\n"
      "\n" +
      config_b64.substr(0, 20) + "\n" + config_b64.substr(20) +
      "\n"
      "--===============123==\n"
      "Content-Type: text/x-shellscript; charset=\"us-ascii\"\n"
      "\n"
      "#!/bin/sh\necho from mime\n"
      "\n"
      "--===============123==\n"
      "Content-Type: text/x-include-url\n"
      "\n"
      "http://192.0.2.1/x\n"
      "--===============123==--\n"
      "epilogue\n";
  auto parts = sd::split_user_data(mime);
  REQUIRE(parts);
  REQUIRE(parts->size() == 3);
  CHECK((*parts)[0].type == sd::UserDataPart::Type::cloud_config);
  CHECK((*parts)[0].content == config);
  CHECK((*parts)[1].type == sd::UserDataPart::Type::script);
  CHECK((*parts)[1].content ==
        "#!/bin/sh\necho from mime\n");  // the break before -- is the delimiter's
  CHECK((*parts)[2].type == sd::UserDataPart::Type::unsupported);

  const auto n = must(nocloud({{"user-data", mime}}));
  CHECK(n.order["hostname"] == "mime-host");
  REQUIRE(n.order["postboot"].size() == 1);
  CHECK(n.order["postboot"][0]["name"] == "50-user-data");
  CHECK(reported(n, "user-data MIME part 3 (text/x-include-url)"));

  SECTION("malformed MIME is an error that says why") {
    for (const std::string& bad :
         {std::string("Content-Type: multipart/mixed\n\n--x\n\nbody\n--x--\n"),  // no boundary
          std::string("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: "
                      "text/x-shellscript\n\n#!/bin/sh\n"),  // never closed
          std::string(
              "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: "
              "base64\n\n!!!!\n--b--\n"),  // bad base64
          std::string("Content-Type: multipart/mixed; boundary=b\nno blank line")}) {
      auto e = run(nocloud({{"user-data", bad}}));
      REQUIRE_FALSE(e);
      CHECK(e.error().message().find("user-data: MIME: ") != std::string::npos);
    }
  }
  SECTION("a single script, and unsupported formats") {
    CHECK(must(nocloud({{"user-data", "#!/bin/bash\necho hi\n"}})).order["postboot"][0]["name"] ==
          "50-user-data");
    for (const std::string& other :
         {std::string("#include http://192.0.2.1/\n"), std::string("#cloud-boothook\necho\n"),
          std::string("\x1f\x8b\x08 gzip"), std::string("just text\n")}) {
      const auto r = must(nocloud({{"user-data", other}}));
      CHECK(reported(r, "user-data"));
      CHECK_FALSE(r.order.contains("postboot"));  // the default user only, as cloud-init
    }
  }
}

TEST_CASE("seed vendor-data lies below user-data", "[seed]") {
  const std::string vendor =
      "Content-Type: multipart/mixed; boundary=v\n\n--v\nContent-Type: text/cloud-config\n\n"
      "#cloud-config\nhostname: vendor-host\ntimezone: UTC\n--v\nContent-Type: "
      "text/x-shellscript\n\n#!/bin/sh\necho vendor\n--v--\n";
  const auto n = must(
      nocloud({{"user-data", "#cloud-config\nhostname: user-host\n"}, {"vendor-data", vendor}}));
  CHECK(n.order["hostname"] == "user-host");
  CHECK(reported(n, "vendor-data: hostname"));
  CHECK(n.order["timezone"] == "UTC");
  CHECK(applied(n, "vendor-data: timezone"));
  REQUIRE(n.order["postboot"].size() == 1);
  CHECK(n.order["postboot"][0]["name"] == "40-vendor-data");

  const auto off = must(nocloud(
      {{"user-data", "#cloud-config\nvendor_data: {enabled: false}\n"}, {"vendor-data", vendor}}));
  CHECK_FALSE(off.order.contains("timezone"));
  CHECK_FALSE(off.order.contains("postboot"));
  CHECK(reported(off, "vendor-data"));
}

TEST_CASE("seed hostile YAML: not YAML names the line, alias bombs are refused", "[seed]") {
  auto e = run(nocloud({{"user-data", "#cloud-config\nhostname: a\nusers: [x\n  - y: : z\n"}}));
  REQUIRE_FALSE(e);
  INFO(e.error().message());
  CHECK(e.error().message().starts_with("user-data: line "));

  auto not_map = run(nocloud({{"user-data", "#cloud-config\n- a\n"}}));
  REQUIRE_FALSE(not_map);
  CHECK(not_map.error().message().find("not a map") != std::string::npos);

  std::string bomb =
      "#cloud-config\na: &a "
      "[\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev +
            ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n";
  }
  auto b = sd::yaml_to_json(bomb);
  REQUIRE_FALSE(b);
  CHECK(b.error().message().find("refused") != std::string::npos);
  // Many aliases, each cheap, are refused by count.
  std::string many = "a: &a x\nb: [";
  for (int i = 0; i < 300; ++i) many += "*a,";
  many += "*a]\n";
  auto m = sd::yaml_to_json(many);
  REQUIRE_FALSE(m);
  CHECK(m.error().message().find("aliases") != std::string::npos);
  // Deep nesting.
  auto deep = sd::yaml_to_json(std::string(200, '[') + std::string(200, ']'));
  CHECK_FALSE(deep);
  // A stray token after a document, and two documents.
  CHECK_FALSE(sd::yaml_to_json("a: 1\n---\nb: 2\n"));
  // Types as PyYAML reads them; quoted stays a string; numbers stay text.
  auto t = sd::yaml_to_json("a: yes\nb: 'yes'\nc: 0012\nd: ~\n");
  REQUIRE(t);
  CHECK((*t)["a"] == true);
  CHECK((*t)["b"] == "yes");
  CHECK((*t)["c"] == "0012");
  CHECK((*t)["d"].is_null());
}

TEST_CASE("seed ConfigDrive: uuid, hostname, keys, admin_pass, meta", "[seed]") {
  sd::SeedFiles f;
  f.kind = sd::SourceKind::configdrive;
  f.files["openstack/latest/meta_data.json"] =
      json{{"uuid", "83679162-1378-4288-a2d4-70e13ec132aa"},
           {"hostname", "os-host"},
           {"name", "os-host"},
           {"public_keys", {{"mykey", kKey1}}},
           {"keys", json::array()},
           {"admin_pass", "adm1n-pass"},
           {"meta", {{"guestkit_agent_key", kAgentKey}, {"role", "web"}}}}
          .dump();
  f.files["openstack/latest/user_data"] = "#cloud-config\ntimezone: UTC\n";
  f.files["openstack/latest/network_data.json"] = "{}";
  const auto n = must(f);
  CHECK(n.instance_id == "83679162-1378-4288-a2d4-70e13ec132aa");
  CHECK(n.order["hostname"] == "os-host");
  CHECK(n.order["root"]["password"] == "adm1n-pass");
  CHECK((*user(n.order, "debian"))["ssh_keys"] == json::array({kKey1}));
  CHECK(n.order["timezone"] == "UTC");
  REQUIRE(n.agent_key);
  CHECK(n.agent_key->reveal() == kAgentKey + "\n");
  CHECK(n.agent_key_source == "openstack/latest/meta_data.json meta.guestkit_agent_key");
  CHECK(reported(n, "openstack/latest/meta_data.json: meta.role"));
  CHECK(reported(n, "openstack/latest/meta_data.json: name"));
  CHECK(reported(n, "openstack/latest/network_data.json"));
  parses(n, n.instance_id);

  SECTION("invalid JSON names the place, never the text") {
    f.files["openstack/latest/meta_data.json"] = "{\"uuid\": \"x\",\n \"admin_pass\": s3cr3t-pw}";
    auto e = sd::normalise(&f, {}, {});
    REQUIRE_FALSE(e);
    CHECK(
        e.error().message().starts_with("openstack/latest/meta_data.json: invalid JSON at line 2"));
    CHECK(e.error().message().find("s3cr3t") == std::string::npos);
    f.files["openstack/latest/meta_data.json"] = std::string(100, '[') + std::string(100, ']');
    CHECK_FALSE(sd::normalise(&f, {}, {}));
  }
}

TEST_CASE("seed in-swap layouts: guestkit/ and gandi/", "[seed]") {
  sd::SeedFiles g;
  g.kind = sd::SourceKind::swap_guestkit;
  g.files["guestkit/order.json"] =
      json{{"instance_id", "vm-42"},
           {"hostname", "g1"},
           {"force", true},
           {"admin", {{"name", "admin"}, {"password", "pw"}, {"ssh_keys", {kKey1}}}}}
          .dump();
  g.files["guestkit/agent.key"] = kAgentKey + "\n";
  g.files["guestkit/postboot/20-setup"] = "#!/bin/sh\necho setup\n";
  g.files["guestkit/modules/6.1.0-13-amd64.tar.xz"] = "xz";
  const auto n = must(g);
  CHECK(n.instance_id == "vm-42");
  CHECK_FALSE(n.order.contains("instance_id"));
  CHECK_FALSE(n.order.contains("force"));
  CHECK(reported(n, "guestkit/order.json: force"));
  CHECK(n.order["admin"]["name"] == "admin");
  CHECK(n.order["postboot"][0] ==
        json{{"name", "20-setup"}, {"script", "#!/bin/sh\necho setup\n"}});
  CHECK(n.agent_key_source == "guestkit/agent.key");
  // Left to apply (the running kernel's only), not reported as ignored.
  CHECK_FALSE(reported(n, "guestkit/modules/6.1.0-13-amd64.tar.xz"));
  CHECK(n.modules == std::vector<std::string>{"guestkit/modules/6.1.0-13-amd64.tar.xz"});
  parses(n, "vm-42");

  sd::SeedFiles old;
  old.kind = sd::SourceKind::swap_gandi;
  old.files["gandi/config"] = json{
      {"vm_hostname", "old1"},
      {"user", "gandi"},
      {"password", "old-pw"},
      {"ssh_key", kKey1 + "\n" + kKey2 + "\n"},
      {"datacenter", "FR"}}.dump();
  old.files["gandi/init"] = "#!/bin/sh\necho init \"$1\"\n";
  const auto o = must(old);
  CHECK(o.order["hostname"] == "old1");
  CHECK(o.order["admin"] == json{{"name", "gandi"},
                                 {"password", "old-pw"},
                                 {"sudo", "password"},
                                 {"ssh_keys", {kKey1, kKey2}}});
  CHECK(reported(o, "gandi/config: datacenter"));
  REQUIRE(o.order["postboot"].size() == 1);
  const std::string wrapper = o.order["postboot"][0]["script"];
  CHECK(wrapper.find("\"$prog\" --postboot\n") != std::string::npos);
  CHECK(wrapper.find(
            gc::base64_encode(reinterpret_cast<const std::uint8_t*>(old.files["gandi/init"].data()),
                              old.files["gandi/init"].size())
                .substr(0, 40)) != std::string::npos);
  parses(o);
}

TEST_CASE("seed agent key: seed, SMBIOS, and bad keys", "[seed]") {
  const auto smbios = sd::SmbiosSeed{std::string(96, 'b')};
  const auto only_smbios = sd::normalise(nullptr, smbios, {});
  REQUIRE(only_smbios);
  CHECK(only_smbios->agent_key_source == "SMBIOS io.guestkit.agent-key");
  CHECK(only_smbios->order.empty());

  const auto both = must(
      nocloud({{"meta-data", "instance-id: i\nguestkit-agent-key: " + kAgentKey + "\n"}}), smbios);
  CHECK(both.agent_key->reveal() == kAgentKey + "\n");
  CHECK(reported(both, "SMBIOS io.guestkit.agent-key"));

  for (const std::string& bad :
       {std::string(62, 'a'), std::string(130, 'a'), std::string(64, 'g')}) {
    auto e = run(nocloud({{"meta-data", "guestkit-agent-key: " + bad + "\n"}}));
    REQUIRE_FALSE(e);
    CHECK(e.error().message().find("32 to 64 bytes") != std::string::npos);
    CHECK(e.error().message().find(bad) == std::string::npos);
    CHECK_FALSE(sd::normalise(nullptr, sd::SmbiosSeed{bad}, {}));
  }
}

TEST_CASE("seed show redacts every secret", "[seed]") {
  const auto n = must(nocloud(
      {{"meta-data", "instance-id: i\nguestkit-agent-key: " + kAgentKey + "\n"},
       {"user-data",
        "#cloud-config\npassword: Visible-Never-1\nchpasswd:\n  list: |\n    root:Visible-Never-2\n"
        "users:\n  - default\n  - name: h\n    passwd: '" +
            a_hash() +
            "'\n"
            "runcmd: ['echo Visible-Never-3']\n"}}));
  const std::string text = sd::show_text(n, "i");
  for (const std::string& secret : {std::string("Visible-Never-1"), std::string("Visible-Never-2"),
                                    std::string("Visible-Never-3"), a_hash(), kAgentKey})
    CHECK(text.find(secret) == std::string::npos);
  CHECK(text.find("<redacted>") != std::string::npos);
  CHECK(text.find("agent key: from meta-data guestkit-agent-key (not shown)") != std::string::npos);
}

TEST_CASE("provision order: users, ssh_pwauth, timezone, postboot", "[provision][seed]") {
  json base = {{"instance_id", "i-1"}};
  auto with = [&](json extra) {
    json a = base;
    a.update(extra);
    return pv::parse_order(a);
  };
  auto ok = with({{"users",
                   {{{"name", "u1"},
                     {"shell", "/bin/sh"},
                     {"gecos", "U One"},
                     {"lock_password", true},
                     {"sudo", "password"}}}},
                  {"ssh_pwauth", false},
                  {"timezone", "Europe/Paris"},
                  {"postboot", {{{"name", "50-x"}, {"script", "#!/bin/sh\n"}}}}});
  REQUIRE(ok);
  REQUIRE(ok->users.size() == 1);
  CHECK(ok->users[0].sudo == pv::Sudo::password);  // allowed without a password in users
  CHECK(ok->users[0].lock_password);
  CHECK(ok->ssh_pwauth == false);
  CHECK(ok->timezone == "Europe/Paris");
  CHECK(ok->postboot[0].name == "50-x");
  CHECK(with({{"users", {{{"name", "u1"}}}}})->users[0].sudo == pv::Sudo::none);  // the default

  const std::vector<std::pair<json, std::string>> bad = {
      {{{"users", {{{"name", "Bad"}}}}}, "users[0].name"},
      {{{"users", {{{"name", "u"}}, {{"name", "u"}}}}}, "users[1].name"},
      {{{"admin", {{"name", "u"}, {"sudo", "none"}}}, {"users", {{{"name", "u"}}}}},
       "users[0].name"},
      {{{"users", {{{"name", "root"}}}}}, "users[0].name"},
      {{{"users", {{{"name", "u"}, {"shell", "bin/sh"}}}}}, "users[0].shell"},
      {{{"users", {{{"name", "u"}, {"gecos", "a:b"}}}}}, "users[0].gecos"},
      {{{"users", {{{"name", "u"}, {"uid", 5}}}}}, "users[0].uid"},
      {{{"ssh_pwauth", "yes"}}, "ssh_pwauth"},
      {{{"timezone", "../../etc/shadow"}}, "timezone"},
      {{{"postboot", {{{"name", "../x"}, {"script", "#!/bin/sh\n"}}}}}, "postboot[0].name"},
      {{{"postboot", {{{"name", "50-x"}, {"script", "echo no interpreter\n"}}}}},
       "postboot[0].script"},
      {{{"postboot",
         {{{"name", "50-x"}, {"script", "#!/bin/sh\n"}},
          {{"name", "50-x"}, {"script", "#!/bin/sh\n"}}}}},
       "postboot[1].name"},
      {{{"root", {{"expire_password", "yes"}}}}, "root.expire_password"},
      {{{"admin", {{"name", "a"}, {"sudo", "none"}, {"expire_password", true}}}},
       "admin.expire_password"},
  };
  for (const auto& [extra, field] : bad) {
    auto r = with(extra);
    INFO(extra.dump());
    REQUIRE_FALSE(r);
    CHECK(r.error().message().starts_with(field + ": "));
  }
  // An old order (admin only) is unchanged.
  auto old = with({{"admin", {{"name", "admin"}, {"password", "pw"}}}});
  REQUIRE(old);
  CHECK(old->admin->sudo == pv::Sudo::password);
  CHECK(old->users.empty());
}

TEST_CASE("seed cloud-config: a users entry naming the default user is merged into it", "[seed]") {
  const auto n = must(nocloud({{"user-data",
                                "#cloud-config\nusers:\n  - default\n  - name: debian\n"
                                "    shell: /bin/sh\n    lock_passwd: false\n"}}));
  REQUIRE(n.order["users"].size() == 1);
  CHECK(n.order["users"][0]["shell"] == "/bin/sh");
  CHECK(n.order["users"][0]["sudo"] == "nopasswd");
  parses(n);
}

TEST_CASE("seed MIME: a text/cloud-config part without its #cloud-config line", "[seed][mime]") {
  auto parts = sd::split_user_data(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/cloud-config\n\n"
      "timezone: UTC\n--b--\n");
  REQUIRE(parts);
  REQUIRE(parts->size() == 1);
  CHECK((*parts)[0].type == sd::UserDataPart::Type::cloud_config);
  CHECK((*parts)[0].content == "timezone: UTC");
  // Nested multipart, and a script typed as cloud-config is refused.
  auto nested = sd::split_user_data(
      "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; "
      "boundary=\"i\"\n\n--i\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n--i--\n--o\n"
      "Content-Type: text/cloud-config\n\n#!/bin/sh\n--o--\n");
  REQUIRE(nested);
  REQUIRE(nested->size() == 2);
  CHECK((*nested)[0].type == sd::UserDataPart::Type::script);
  CHECK((*nested)[0].label == "MIME part 1.1 (text/x-shellscript)");
  CHECK((*nested)[1].type == sd::UserDataPart::Type::unsupported);
}

TEST_CASE("seed 00-apply-seed runs first in bootstrap, and under --root needs seed.device",
          "[seed]") {
  std::vector<std::string> bootstrap;
  for (const auto& p : guestkit::plugins::builtin_plugins())
    if (p.serves("bootstrap")) bootstrap.emplace_back(p.name);
  REQUIRE_FALSE(bootstrap.empty());
  CHECK(bootstrap.front() == "00-apply-seed");

  guestkit::test::TempDir tmp;
  tmp.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  gc::Context ctx(tmp.root(), gc::Config{});
  guestkit::plugins::PluginContext p{ctx, "bootstrap", {}, {}, nullptr};
  auto out = guestkit::plugins::seed::apply_seed(p);
  REQUIRE(out);
  CHECK(*out == guestkit::plugins::Outcome::skipped);
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "run/guestkit/seed.json"));

  ctx.config.seed.device = "/dev/vdz";  // a device this build cannot read: an error, said so
  auto dev = guestkit::plugins::seed::apply_seed(p);
  REQUIRE_FALSE(dev);
  CHECK(dev.error().message().find("/dev/vdz") != std::string::npos);
}

TEST_CASE("seed summary in guestkit-boot report", "[seed]") {
  guestkit::test::TempDir tmp;
  tmp.write("run/guestkit/boot-bootstrap.json",
            R"({"plugins": [{"name": "00-apply-seed", "status": "changed", "duration_ms": 4}],
                "duration_ms": 5, "exit_code": 0, "finished": 0})");
  tmp.write("run/guestkit/seed.json",
            json{{"state", "applied"},
                 {"source", "nocloud"},
                 {"origin", "/dev/sr0"},
                 {"instance_id", "iid-7"},
                 {"not_applied",
                  {{{"key", "user-data: packages"}, {"why", "not supported by guestkit"}}}}}
                .dump());
  std::ostringstream os;
  guestkit::plugins::print_boot_report(os, tmp.root());
  CHECK(os.str().find("seed: applied (nocloud /dev/sr0, instance iid-7)\n"
                      "  not applied: user-data: packages: not supported by guestkit\n") !=
        std::string::npos);
}

TEST_CASE("seed default user follows os-release unless configured", "[seed]") {
  guestkit::test::TempDir tmp;
  gc::Context ctx(tmp.root(), gc::Config{});
  CHECK(sd::default_user(ctx).empty());
  tmp.write("etc/os-release", "NAME=x\nID=\"rhel\"\n");
  CHECK(sd::default_user(ctx) == "cloud-user");
  tmp.write("etc/os-release", "ID=ubuntu\n");
  CHECK(sd::default_user(ctx) == "ubuntu");
  tmp.write("etc/os-release", "ID=gentoo\n");
  CHECK(sd::default_user(ctx).empty());
  ctx.config.seed.default_user = "ops";
  CHECK(sd::default_user(ctx) == "ops");
}

TEST_CASE("seed agent key per instance, atomic, never through a symlink", "[seed]") {
  guestkit::test::TempDir tmp;
  tmp.write("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  tmp.write("outside/target", "not a key\n");
  std::filesystem::create_directories(tmp.path() / "etc/guestkit");
  std::filesystem::create_symlink("../../outside/target", tmp.path() / "etc/guestkit/agent.key");
  gc::Context ctx(tmp.root(), gc::Config{});
  const sd::SmbiosSeed smbios{kAgentKey};

  auto first = sd::apply_seed(ctx, nullptr, smbios);
  INFO(first.summary.dump());
  REQUIRE(first.exit_code == 0);
  CHECK(first.summary["agent_key"]["state"] == "written");
  CHECK(tmp.read("outside/target") == "not a key\n");  // the planted link was replaced
  const auto key = tmp.path() / "etc/guestkit/agent.key";
  CHECK_FALSE(std::filesystem::is_symlink(key));
  struct stat st {};
  REQUIRE(::lstat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(tmp.read("etc/guestkit/agent.key") == kAgentKey + "\n");
  // A key alone marks nothing provisioned: the platform can still send its order.
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "var/lib/guestkit/provisioned"));
  const std::string summary = tmp.read("run/guestkit/seed.json");
  CHECK(summary.find(kAgentKey) == std::string::npos);

  // The same instance: not written again, even with another key.
  tmp.write("etc/guestkit/agent.key", "admin's own\n", 0600);
  auto again = sd::apply_seed(ctx, nullptr, sd::SmbiosSeed{std::string(64, 'c')});
  CHECK(again.summary["agent_key"]["state"] == "unchanged (already written for this instance)");
  CHECK(tmp.read("etc/guestkit/agent.key") == "admin's own\n");
  // A new instance (a clone): replaced.
  tmp.write("etc/machine-id", "fedcba9876543210fedcba9876543210\n");
  auto clone = sd::apply_seed(ctx, nullptr, sd::SmbiosSeed{std::string(64, 'c')});
  CHECK(clone.summary["agent_key"]["state"] == "written");
  CHECK(tmp.read("etc/guestkit/agent.key") == std::string(64, 'c') + "\n");

  SECTION("a symlinked /etc/guestkit is refused") {
    std::filesystem::remove_all(tmp.path() / "etc/guestkit");
    std::filesystem::create_directories(tmp.path() / "outside/dir");
    std::filesystem::create_symlink("../outside/dir", tmp.path() / "etc/guestkit");
    tmp.write("etc/machine-id", "11111111111111111111111111111111\n");
    auto refused = sd::apply_seed(ctx, nullptr, smbios);
    CHECK(refused.exit_code == 2);
    CHECK(std::filesystem::is_empty(tmp.path() / "outside/dir"));
  }
}
