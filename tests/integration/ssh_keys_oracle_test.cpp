// authorized_keys lines, differentially: for every line of a corpus of tricky lines
// (tests/fixtures/ssh-keys/corpus.txt), OpenSSH's own reader, `ssh-keygen -l -f FILE` on
// a file holding the line, says which key the line holds (or none), and guestkit's
// validator, lister and remover must agree with it key for key.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "core/encoding.hpp"
#include "core/exec.hpp"
#include "plugins/provision/ssh_key_line.hpp"
#include "plugins/provision/authorized_keys.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace pv = guestkit::plugins::provision;
using guestkit::test::TempDir;

namespace {

std::string oracle(const TempDir& dir, std::string_view text) {
  return guestkit::test::ssh_keygen_fingerprint(dir, text);
}

// Generates a key (or certificate) with ssh-keygen, returns its base64 blob.
std::string keygen(const TempDir& dir, const std::vector<std::string>& args,
                   const std::string& pub) {
  std::vector<std::string> argv{"ssh-keygen", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = core::run(argv);
  REQUIRE(r);
  INFO(r->err);
  REQUIRE(r->success());
  const std::string text = dir.read(pub);
  const auto first = text.find(' ');
  return text.substr(first + 1, text.find(' ', first + 1) - first - 1);
}

// The blob with its leading type string replaced (sshd reads a blob's type by alias).
std::string retype(const std::string& blob, std::string_view name) {
  const auto bytes = core::base64_decode(blob);
  REQUIRE(bytes);
  const std::size_t old = std::size_t{(*bytes)[2]} << 8 | (*bytes)[3];
  core::Bytes out{0, 0, 0, static_cast<std::uint8_t>(name.size())};
  out.insert(out.end(), name.begin(), name.end());
  out.insert(out.end(), bytes->begin() + 4 + static_cast<long>(old), bytes->end());
  return core::base64_encode(out);
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

struct Row {
  int number;
  std::string verdict, key, note, line;
};

}  // namespace

TEST_CASE("authorized_keys lines are read as OpenSSH reads them (ssh-keygen is the oracle)",
          "[ssh-keys]") {
  if (!core::find_program("ssh-keygen"))
    GUESTKIT_SKIP("ssh-keygen is not installed (scripts/setup installs openssh-client)");
  TempDir dir;
  const auto at = [&](const char* name) { return (dir.path() / name).string(); };
  std::map<std::string, std::string> blob;
  std::map<std::string, std::string> type;
  blob["D"] = keygen(dir, {"-t", "ed25519", "-N", "", "-C", "d", "-f", at("d")}, "d.pub");
  blob["E"] = keygen(dir, {"-t", "ed25519", "-N", "", "-C", "e", "-f", at("e")}, "e.pub");
  blob["R"] = keygen(dir, {"-t", "rsa", "-b", "2048", "-N", "", "-f", at("r")}, "r.pub");
  blob["P"] = keygen(dir, {"-t", "ecdsa", "-b", "256", "-N", "", "-f", at("p")}, "p.pub");
  blob["S"] = keygen(dir, {"-t", "dsa", "-N", "", "-f", at("s")}, "s.pub");
  blob["C"] = keygen(dir, {"-s", at("d"), "-I", "e", "-n", "root", at("e.pub")}, "e-cert.pub");
  blob["RA"] = retype(blob["R"], "rsa-sha2-256");
  blob["RSHORT"] = retype(blob["R"], "rsa");
  blob["PSHORT"] = retype(blob["P"], "ECDSA");
  blob["ENUL"] = retype(blob["E"], std::string_view("ssh-ed25519\0", 12));
  type = {{"D", "ssh-ed25519"},
          {"E", "ssh-ed25519"},
          {"R", "ssh-rsa"},
          {"P", "ecdsa-sha2-nistp256"},
          {"S", "ssh-dss"}};
  // A 512-bit RSA public key (too short for sshd), built by hand: ssh-keygen refuses it.
  blob["SMALL"] =
      "AAAAB3NzaC1yc2EAAAADAQABAAAAQQCIkMxvi+MCau062MA8zg0T20JBQNAvI62rj+CfqU2orRpdSL922XPRdLtE03Ho"
      "fQOthPWUxFovh5bYBzs1OJ+n";

  // Each key's fingerprint and identity, from its own plain line.
  std::map<std::string, std::string> fingerprint, identity;
  for (const auto& [name, t] : type) {
    const std::string plain = t + " " + blob[name];
    fingerprint[name] = oracle(dir, plain);
    REQUIRE_FALSE(fingerprint[name].empty());
    const auto read = pv::read_key_line(plain);
    REQUIRE(read.kind == pv::KeyLine::Kind::key);
    identity[name] = read.identity;
  }
  REQUIRE(fingerprint["D"] != fingerprint["E"]);

  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/tests/fixtures/ssh-keys/corpus.txt");
  REQUIRE(in);
  std::vector<Row> rows;
  std::string text;
  for (int n = 1; std::getline(in, text); ++n) {
    if (text.empty() || text[0] == '#') continue;
    Row row{n, {}, {}, {}, {}};
    std::istringstream fields(text);
    std::getline(fields, row.verdict, '\t');
    std::getline(fields, row.key, '\t');
    std::getline(fields, row.note, '\t');
    std::getline(fields, row.line, '\0');
    for (const auto& [name, b] : blob) replace_all(row.line, "{" + name + "}", b);
    replace_all(row.line, "{TAB}", "\t");
    replace_all(row.line, "{CR}", "\r");
    replace_all(row.line, "{VT}", "\v");
    replace_all(row.line, std::string_view("{NUL}"), std::string_view("\0", 1));
    REQUIRE(row.line.find('{') == std::string::npos);
    rows.push_back(std::move(row));
  }
  REQUIRE(rows.size() > 80);

  int checked = 0;
  for (const auto& row : rows) {
    INFO("corpus.txt line " << row.number << ": " << row.verdict << " " << row.line);
    // OpenSSH first: the corpus must say what ssh-keygen does.
    const std::string theirs = oracle(dir, row.line);
    if (row.verdict == "refuse" || row.verdict == "keygen-misses") {
      CHECK(theirs.empty());
    } else {
      REQUIRE(fingerprint.count(row.key));
      CHECK(theirs == fingerprint.at(row.key));
    }

    // guestkit's reader (lister, remover) reads the same key, or none that sshd uses.
    const auto read = pv::read_key_line(row.line);
    // Where ssh-keygen misses the key sshd takes, KEY's own line speaks for OpenSSH.
    const std::string expected = row.verdict == "keygen-misses" ? fingerprint.at(row.key) : theirs;
    if (!expected.empty()) {
      REQUIRE(read.kind == pv::KeyLine::Kind::key);
      CHECK(read.identity == identity.at(row.key));
      // The key guestkit extracts, on its own line, is the key ssh-keygen saw.
      CHECK(oracle(dir, std::string(read.type) + " " + std::string(read.blob)) == expected);
      // Removing that key removes the line.
      bool changed = false;
      pv::SshKey key;  // as an order names it (ssh-dss included, which guestkit never writes)
      key.type = type.at(row.key);
      key.blob = blob.at(row.key);
      key.identity = identity.at(row.key);
      CHECK(pv::merge_authorized_keys(row.line, {}, {key}, changed).empty());
      CHECK(changed);
    } else {
      CHECK_FALSE((read.kind == pv::KeyLine::Kind::key && read.options_error.empty()));
    }
    // Listed exactly when sshd would authorize it.
    const auto listed = pv::list_authorized_keys(row.line);
    const bool authorizes =
        row.verdict == "accept" || row.verdict == "stricter" || row.verdict == "keygen-misses";
    REQUIRE(listed.size() == (authorizes ? 1U : 0U));
    if (authorizes) CHECK(listed[0].identity == identity.at(row.key));

    // The validator: what guestkit writes.
    const auto parsed = pv::parse_ssh_key(row.line);
    if (row.verdict == "accept" || row.verdict == "keygen-misses") {
      REQUIRE(parsed);
      CHECK(parsed->identity == identity.at(row.key));
      CHECK(oracle(dir, parsed->type + " " + parsed->blob) == expected);
      // And the line guestkit writes (one space between fields) reads as the same key.
      CHECK(oracle(dir, parsed->line()) == expected);
    } else {
      REQUIRE_FALSE(parsed);
      if (row.verdict == "sshd-refuses") {
        CHECK(read.options_error == row.note);
        CHECK_THAT(parsed.error().message(),
                   Catch::Contains("options refused by sshd: " + row.note));
      } else if (row.verdict == "stricter" || row.verdict == "sshd-ignores") {
        CHECK_THAT(parsed.error().message(), Catch::Contains(row.note));
      }
    }
    ++checked;
  }
  CHECK(checked == static_cast<int>(rows.size()));
}

TEST_CASE("ssh-keys remove drops the line sshd authorizes, not the key quoted in its command",
          "[ssh-keys]") {
  if (!core::find_program("ssh-keygen"))
    GUESTKIT_SKIP("ssh-keygen is not installed (scripts/setup installs openssh-client)");
  TempDir dir;
  const auto d =
      keygen(dir, {"-t", "ed25519", "-N", "", "-f", (dir.path() / "d").string()}, "d.pub");
  const auto e =
      keygen(dir, {"-t", "ed25519", "-N", "", "-f", (dir.path() / "e").string()}, "e.pub");
  const auto f =
      keygen(dir, {"-t", "ed25519", "-N", "", "-f", (dir.path() / "f").string()}, "f.pub");
  const std::string attack =
      "command=\"echo \\\\\" ssh-ed25519 " + d + " z\" ssh-ed25519 " + e + " c";
  const std::string fe = oracle(dir, "ssh-ed25519 " + e);
  REQUIRE(oracle(dir, attack) == fe);  // sshd reads E from it

  const auto listed = pv::list_authorized_keys(attack + "\n");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].blob == e);

  const auto key_e = pv::parse_ssh_key("ssh-ed25519 " + e);
  const auto key_d = pv::parse_ssh_key("ssh-ed25519 " + d);
  REQUIRE(key_e);
  REQUIRE(key_d);
  // What `ssh-keys remove` does: read, merge, write, on a real file.
  TempDir root_dir;
  const auto root = root_dir.root();
  root_dir.write("home/alice/.ssh/authorized_keys", "ssh-ed25519 " + f + " kept\n" + attack + "\n",
                 0600);
  // .ssh already as it should be: `changed` then speaks of the keys only.
  REQUIRE(::chmod((root_dir.path() / "home/alice/.ssh").c_str(), 0700) == 0);
  const pv::KeyOwner alice{"/home/alice", ::geteuid(), ::getegid()};
  // Removing D, which only appears inside E's command, changes nothing.
  auto kept = pv::update_authorized_keys(root, alice, {}, {*key_d});
  REQUIRE(kept);
  CHECK_FALSE(*kept);
  auto wrote = pv::update_authorized_keys(root, alice, {}, {*key_e});
  REQUIRE(wrote);
  CHECK(*wrote);  // was `changed: false`, E still authorized
  const std::string after = root_dir.read("home/alice/.ssh/authorized_keys");
  CHECK(after == "ssh-ed25519 " + f + " kept\n");
  CHECK(oracle(dir, after).find(fe) == std::string::npos);
}
