// Provisioning orders: every validator, SSH key parsing and merging, the sudoers
// drop-in, whole-order validation, and the planted-symlink checks.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "plugins/provision/order.hpp"
#include "plugins/provision/password.hpp"
#include "plugins/provision/validate.hpp"
#include "tests/support.hpp"

namespace pv = guestkit::plugins::provision;
namespace gc = guestkit::core;
using nlohmann::json;

namespace {

const std::string kEd25519 =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBZ4nErOkbPYMFEq2kqnVH8pj6zGUl75rD69BUPhJUDT u@ed25519";
const std::string kEcdsa =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDwxc2dZqZ8mQO/omJmoiX5wjZ9zU"
    "bxLsMzimzV3bnAHicl5/0Rud4I4k86GjOZgPfpCF5r5zN9z2etnXHuwUYs= u@ecdsa";
const std::string kRsa =
    "ssh-rsa "
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCr3zrshjiSwBUFofP22K3cEBIyBXYqkrXgCLupGaibvfoe/SdJ8NU1b0Ll5U3bj"
    "uqNLtxMLmXavWAObupoUB19wNEjx1tn0TlMAS4NF6yRlRfENSuaktmjP1lh/"
    "iarWXZd4vPddCRlngqOL0ALcRiS1WjEcL3DgMAV"
    "ml2rEcxoBw== u@rsa";

void minimal_etc(const guestkit::test::TempDir& tmp) {
  tmp.write("etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
            "alice:x:1000:1000::/home/alice:/bin/bash\n");
  tmp.write("etc/group", "root:x:0:\ndaemon:x:1:\nsudo:x:27:\nadm:x:4:\nalice:x:1000:\n");
}

}  // namespace

TEST_CASE("provision user names", "[provision]") {
  for (const char* good : {"admin", "_svc", "a", "web-admin_2", "abcdefghijklmnopqrstuvwxyz012345"})
    CHECK(pv::check_user_name(good).empty());
  for (const char* bad : {"", "root:", "../x", "Admin", "1admin", "-admin", "ad min", "ad$min",
                          "a.b", "abcdefghijklmnopqrstuvwxyz0123456", "admin\n", "é"})
    CHECK_FALSE(pv::check_user_name(bad).empty());
}

TEST_CASE("provision hostnames (RFC 1123)", "[provision]") {
  const std::string label63(63, 'a');
  for (const std::string& good :
       std::vector<std::string>{"web1", "web1.example.com", "a", "1host", "x-y.z", label63})
    CHECK(pv::check_hostname(good).empty());
  const std::string long_label(64, 'a');
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(50, 'a') + ".";
  long_name += "com";
  for (const std::string& bad : std::vector<std::string>{
           std::string(""), std::string("-web"), std::string("web-"), std::string("a..b"),
           std::string("web.example.com."), std::string("we_b"), std::string("web 1"),
           std::string("web;reboot"), long_label, long_name, std::string(".")})
    CHECK_FALSE(pv::check_hostname(bad).empty());
}

TEST_CASE("provision instance ids and password hashes", "[provision]") {
  CHECK(pv::check_instance_id("4c4c4544-0035-3010-8030-b3c04f4e4d32").empty());
  CHECK_FALSE(pv::check_instance_id("../etc").empty());
  CHECK_FALSE(pv::check_instance_id("").empty());
  CHECK_FALSE(pv::check_instance_id("a/b").empty());
  CHECK(pv::check_password_hash("$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/"
                                "jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/")
            .empty());
  CHECK(pv::check_password_hash(
            "$y$j9T$ISl3/1rtHHFYI6WlwFOhM/$e2ogFfgw8qLYTOZQfYEFUagZA.3zHgs9bmiaAlwiIw8")
            .empty());
  for (const char* bad :
       {"", "!", "*", "$1$abc$def", "abcdefghijklm", "$6$salt$x:0:0", "$6$salt\n$x", "plaintext"})
    CHECK_FALSE(pv::check_password_hash(bad).empty());
  CHECK(pv::check_password("correct horse").empty());
  CHECK_FALSE(pv::check_password("").empty());
  CHECK_FALSE(pv::check_password("a\nb").empty());
  CHECK_FALSE(pv::check_password(std::string("a\0b", 3)).empty());
}

TEST_CASE("provision password hashing is yescrypt and verifies", "[provision]") {
  const gc::Secret plain("s3cret pass");
  auto hash = pv::hash_password(plain);
  REQUIRE(hash);
  CHECK(hash->reveal().rfind("$y$", 0) == 0);
  CHECK(pv::check_password_hash(hash->reveal()).empty());
  CHECK(pv::verify_password(plain, *hash));
  CHECK_FALSE(pv::verify_password(gc::Secret("s3cret pasS"), *hash));
  auto again = pv::hash_password(plain);
  CHECK(again->reveal() != hash->reveal());  // fresh salt
}

TEST_CASE("provision SSH key lines", "[provision][ssh]") {
  for (const auto& good : {kEd25519, kEcdsa, kRsa}) {
    auto key = pv::parse_ssh_key(good);
    INFO(good);
    REQUIRE(key);
    CHECK(key->line() == good);
  }
  auto with_options =
      pv::parse_ssh_key("from=\"10.0.0.0/8,192.0.2.1\",no-pty,command=\"echo a b\" " + kEd25519);
  REQUIRE(with_options);
  CHECK(with_options->options == "from=\"10.0.0.0/8,192.0.2.1\",no-pty,command=\"echo a b\"");
  CHECK(with_options->type == "ssh-ed25519");
  CHECK(with_options->comment == "u@ed25519");
  // sshd takes a trailing comma before the blank that ends the options.
  CHECK(pv::parse_ssh_key("no-pty, " + kEd25519));
  auto no_comment = pv::parse_ssh_key(kEd25519.substr(0, kEd25519.rfind(' ')));
  REQUIRE(no_comment);
  CHECK(no_comment->comment.empty());

  const std::string blob = kEd25519.substr(12, kEd25519.rfind(' ') - 12);
  for (const std::string& bad : std::vector<std::string>{
           std::string(""), std::string("# comment"), "ssh-dss " + blob, "ssh-ed25519",
           "ssh-ed25519 !!!notbase64",
           "ssh-rsa " + blob,                                 // blob names ssh-ed25519
           "ssh-ed25519 " + blob.substr(0, blob.size() - 4),  // truncated base64
           "no-pty,bogus " + kEd25519,                        // sshd: unknown key option
           "command=\"a\"b " + kEd25519,                        // sshd: unknown key option
           "command=\"unterminated " + kEd25519, kEd25519 + "\nssh-ed25519 " + blob,
           std::string("ssh-ed25519 AAAA\x01"), "bogus-type " + blob})
    CHECK_FALSE(pv::parse_ssh_key(bad));
}

TEST_CASE("provision authorized_keys merge", "[provision][ssh]") {
  const auto ed = *pv::parse_ssh_key(kEd25519);
  const auto ec = *pv::parse_ssh_key(kEcdsa);
  const auto rsa = *pv::parse_ssh_key(kRsa);
  bool changed = false;
  const std::string existing = "# my keys\n" + kEd25519 + "\nnot a key line\n";
  // The same key with another comment or options is a duplicate.
  auto same_other_comment = ed;
  same_other_comment.comment = "other";
  auto merged = pv::merge_authorized_keys(existing, {same_other_comment, ec}, {}, changed);
  CHECK(changed);
  CHECK(merged == existing + kEcdsa + "\n");
  auto again = pv::merge_authorized_keys(merged, {ec, ed}, {}, changed);
  CHECK_FALSE(changed);
  CHECK(again == merged);
  auto removed = pv::merge_authorized_keys(merged, {rsa}, {ed}, changed);
  CHECK(changed);
  CHECK(removed == "# my keys\nnot a key line\n" + kEcdsa + "\n" + kRsa + "\n");
  CHECK(pv::list_authorized_keys(removed).size() == 2);
}

TEST_CASE("provision sudoers drop-in text", "[provision]") {
  CHECK(pv::sudoers_path("admin") == "/etc/sudoers.d/90-guestkit-admin");
  const auto nopasswd = pv::sudoers_text("admin", pv::Sudo::nopasswd);
  CHECK(nopasswd.ends_with("\nadmin ALL=(ALL:ALL) NOPASSWD: ALL\n"));
  CHECK(pv::sudoers_text("admin", pv::Sudo::password).ends_with("\nadmin ALL=(ALL:ALL) ALL\n"));
}

TEST_CASE("provision order validation names the field", "[provision]") {
  const auto error_of = [](const json& args) {
    auto order = pv::parse_order(args);
    return order ? std::string("ok") : order.error().context;
  };
  const json base = {{"instance_id", "vm-1"}, {"hostname", "web1"}};
  CHECK(error_of(base) == "ok");
  CHECK(error_of({{"hostname", "web1"}}) == "instance_id: missing");
  CHECK(error_of({{"instance_id", "vm-1"}}).starts_with("provision: the order asks for nothing"));
  CHECK(error_of({{"instance_id", "vm-1"}, {"hostname", "web_1"}}).starts_with("hostname: "));
  CHECK(error_of({{"instance_id", "vm-1"}, {"hostnme", "web1"}}) == "hostnme: unknown field");
  CHECK(error_of({{"instance_id", "vm-1"}, {"admin", {{"name", "root:"}, {"sudo", "none"}}}})
            .starts_with("admin.name: "));
  CHECK(error_of({{"instance_id", "vm-1"}, {"admin", {{"name", "../x"}, {"sudo", "none"}}}})
            .starts_with("admin.name: "));
  CHECK(error_of({{"instance_id", "vm-1"}, {"admin", {{"name", "admin"}}}}) ==
        "admin.sudo: 'password' needs admin.password or admin.password_hash");
  CHECK(error_of({{"instance_id", "vm-1"}, {"admin", {{"name", "admin"}, {"sudo", "always"}}}}) ==
        "admin.sudo: must be none, password or nopasswd");
  CHECK(error_of({{"instance_id", "vm-1"},
                  {"root", {{"password", "a"}, {"password_hash", "$6$x$y"}}}}) ==
        "root: give password or password_hash, not both");
  CHECK(error_of({{"instance_id", "vm-1"}, {"root", {{"password_hash", "$1$abc$def"}}}})
            .starts_with("root.password_hash: "));
  CHECK(error_of({{"instance_id", "vm-1"}, {"root", {{"ssh_keys", {kEd25519, "ssh-ed25519 bad"}}}}})
            .starts_with("root.ssh_keys[1]: SSH key: "));
  // A bad part anywhere rejects the whole order: no partial orders exist.
  CHECK(error_of({{"instance_id", "vm-1"}, {"hostname", "ok"}, {"root", {{"password", ""}}}}) ==
        "root.password: password is empty");
}

TEST_CASE("provision order against the image", "[provision]") {
  guestkit::test::TempDir tmp;
  minimal_etc(tmp);
  const auto root = tmp.root();
  const auto prepared = [&](const json& admin) {
    auto order = pv::parse_order({{"instance_id", "vm-1"}, {"admin", admin}});
    REQUIRE(order);
    auto ok = pv::prepare_order(root, *order);
    return ok ? std::string("ok " + order->admin_group) : ok.error().context;
  };
  CHECK(prepared({{"name", "admin"}, {"sudo", "nopasswd"}}) == "ok sudo");
  CHECK(prepared({{"name", "alice"}, {"sudo", "none"}}) == "ok ");
  CHECK(prepared({{"name", "daemon"}, {"sudo", "none"}}) ==
        "admin.name: 'daemon' is a system account");
  CHECK(prepared({{"name", "root"}, {"sudo", "none"}}) == "admin.name: 'root' is a system account");
  CHECK(prepared({{"name", "adm"}, {"sudo", "none"}}) ==
        "admin.name: a group 'adm' already exists");
  CHECK(prepared({{"name", "admin"}, {"sudo", "none"}, {"groups", {"nosuch"}}}) ==
        "admin.groups: no group 'nosuch' in the image");
  CHECK(prepared({{"name", "admin"}, {"sudo", "none"}, {"groups", {"root"}}}) ==
        "admin.groups: group 'root' is the root group");
  CHECK(prepared({{"name", "admin"}, {"sudo", "none"}, {"groups", {"adm", "sudo"}}}) ==
        "admin.groups: 'sudo' gives sudo rights, which admin.sudo: none takes away (say "
        "password or nopasswd)");
  CHECK(prepared({{"name", "admin"}, {"sudo", "nopasswd"}, {"groups", {"sudo"}}}) == "ok sudo");
  // sudo: none for an existing member of sudo and wheel: both are to be left; a
  // member of neither (or a new user) leaves nothing.
  const auto leaving = [&](const std::string& name) {
    auto order =
        pv::parse_order({{"instance_id", "vm-1"}, {"admin", {{"name", name}, {"sudo", "none"}}}});
    REQUIRE(order);
    REQUIRE(pv::prepare_order(root, *order));
    std::string out;
    for (const auto& g : order->leave_groups) out += g + " ";
    return out;
  };
  tmp.write("etc/group",
            "root:x:0:\nsudo:x:27:bob,alice\nwheel:x:10:alice\nadm:x:4:alice\n"
            "alice:x:1000:\nalicex:x:1001:\n");
  CHECK(leaving("alice") == "sudo wheel ");
  tmp.write("etc/group", "root:x:0:\nsudo:x:27:alicex,xalice\nalice:x:1000:\n");
  CHECK(leaving("alice").empty());
  CHECK(leaving("carol").empty());
  tmp.write("etc/group", "root:x:0:\nwheel:x:10:\n");
  CHECK(prepared({{"name", "admin"}, {"sudo", "nopasswd"}}) == "ok wheel");
  tmp.write("etc/group", "root:x:0:\n");
  CHECK(prepared({{"name", "admin"}, {"sudo", "nopasswd"}}) ==
        "admin.sudo: the image has neither a sudo nor a wheel group");
}

TEST_CASE("provision refuses a time zone the image lacks before anything changes",
          "[provision]") {
  guestkit::test::TempDir tmp;
  minimal_etc(tmp);
  const auto root = tmp.root();
  const auto prepared = [&](const std::string& zone) {
    auto order = pv::parse_order({{"instance_id", "vm-1"}, {"timezone", zone}});
    REQUIRE(order);
    auto ok = pv::prepare_order(root, *order);
    return ok ? std::string("ok") : ok.error().context;
  };
  CHECK(prepared("UTC") == "timezone: no time zone 'UTC' in the image (no " +
                               (tmp.path() / "usr/share/zoneinfo/UTC").string() + ")");
  tmp.write("usr/share/zoneinfo/UTC", "TZif2");
  tmp.write("usr/share/zoneinfo/Europe/Paris", "TZif2");
  std::filesystem::create_directories(tmp.path() / "usr/share/zoneinfo/America");
  CHECK(prepared("UTC") == "ok");
  CHECK(prepared("Europe/Paris") == "ok");
  CHECK(prepared("America") != "ok");  // a directory is no zone
}

TEST_CASE("provision planted symlinks are refused before anything changes", "[provision][ssh]") {
  guestkit::test::TempDir tmp;
  minimal_etc(tmp);
  tmp.write("root/.ssh/authorized_keys", "", 0600);
  tmp.write("etc/shadow", "root:*:1::::::\n", 0640);
  const auto root = tmp.root();
  const json keys = {kEd25519};

  SECTION("~admin/.ssh -> /root/.ssh") {
    std::filesystem::create_directories(tmp.path() / "home/admin");
    std::filesystem::create_symlink("/root/.ssh", tmp.path() / "home/admin/.ssh");
    auto order =
        pv::parse_order({{"instance_id", "vm-1"},
                         {"admin", {{"name", "admin"}, {"sudo", "none"}, {"ssh_keys", keys}}}});
    REQUIRE(order);
    auto ok = pv::prepare_order(root, *order);
    REQUIRE_FALSE(ok);
    CHECK(ok.error().context.find("is a symlink") != std::string::npos);
  }
  SECTION("authorized_keys -> /etc/shadow") {
    std::filesystem::create_directories(tmp.path() / "home/alice/.ssh");
    std::filesystem::create_symlink("/etc/shadow", tmp.path() / "home/alice/.ssh/authorized_keys");
    const pv::KeyOwner alice{"/home/alice", 1000, 1000};
    CHECK_FALSE(pv::check_ssh_paths(root, alice));
    auto wrote = pv::update_authorized_keys(root, alice, {*pv::parse_ssh_key(kEd25519)}, {});
    REQUIRE_FALSE(wrote);
    CHECK(tmp.read("etc/shadow") == "root:*:1::::::\n");
  }
  SECTION("a regular home gets .ssh 0700 and authorized_keys 0600") {
    std::filesystem::create_directories(tmp.path() / "home/alice");
    const pv::KeyOwner alice{"/home/alice", 1000, 1000};
    auto wrote = pv::update_authorized_keys(root, alice, {*pv::parse_ssh_key(kEd25519)}, {});
    REQUIRE(wrote);
    CHECK(*wrote);
    struct stat dir {
    }, file{};
    REQUIRE(::lstat((tmp.path() / "home/alice/.ssh").c_str(), &dir) == 0);
    REQUIRE(::lstat((tmp.path() / "home/alice/.ssh/authorized_keys").c_str(), &file) == 0);
    CHECK((dir.st_mode & 07777) == 0700);
    CHECK((file.st_mode & 07777) == 0600);
    if (::geteuid() == 0) {
      CHECK(dir.st_uid == 1000);
      CHECK(file.st_uid == 1000);
    }
    CHECK(tmp.read("home/alice/.ssh/authorized_keys") == kEd25519 + "\n");
    auto again = pv::update_authorized_keys(root, alice, {*pv::parse_ssh_key(kEd25519)}, {});
    REQUIRE(again);
    CHECK_FALSE(*again);
  }
}
