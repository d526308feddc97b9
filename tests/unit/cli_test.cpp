// The shared command line of every guestkit binary.

#include <catch2/catch.hpp>
#include <variant>

#include "core/cli.hpp"

namespace core = guestkit::core;

namespace {

const core::ToolSpec kSpec{"guestkit-test",
                           "[OPTION]... THING",
                           "Test tool.",
                           "",
                           {{"list", 'l', false, "", "list"}, {"only", 0, true, "NAME", "only NAME"}},
                           0,
                           1};

std::variant<core::CliArgs, int> parse(std::vector<std::string> words) {
  words.insert(words.begin(), "guestkit-test");
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  return core::parse_cli(kSpec, static_cast<int>(words.size()), argv.data());
}

}  // namespace

TEST_CASE("common and tool options, in any order around positionals", "[cli]") {
  auto r = parse({"config", "--root", "/mnt/img", "-n", "--list", "--only=13-set-motd",
                  "--config", "/tmp/g.yml", "--log-stderr", "-d"});
  REQUIRE(std::holds_alternative<core::CliArgs>(r));
  auto& a = std::get<core::CliArgs>(r);
  CHECK(a.args == std::vector<std::string>{"config"});
  CHECK(a.root == "/mnt/img");
  CHECK(a.dry_run);
  CHECK(a.debug);
  CHECK(a.log_stderr);
  CHECK(*a.config == "/tmp/g.yml");
  CHECK(a.has("list"));
  CHECK(a.options.at("only") == "13-set-motd");
  CHECK_FALSE(a.has("nothing"));
}

TEST_CASE("defaults", "[cli]") {
  auto r = parse({});
  REQUIRE(std::holds_alternative<core::CliArgs>(r));
  auto& a = std::get<core::CliArgs>(r);
  CHECK(a.root == "/");
  CHECK_FALSE(a.config);
  CHECK_FALSE(a.dry_run);
  CHECK(a.args.empty());
}

TEST_CASE("usage errors return 64, and -- ends options", "[cli]") {
  CHECK(std::get<int>(parse({"--nope"})) == core::kExitUsage);
  CHECK(std::get<int>(parse({"-z"})) == core::kExitUsage);
  CHECK(std::get<int>(parse({"--only"})) == core::kExitUsage);
  CHECK(std::get<int>(parse({"a", "b"})) == core::kExitUsage);
  CHECK(std::get<int>(parse({"--root="})) == core::kExitUsage);
  auto r = parse({"--", "--list"});
  REQUIRE(std::holds_alternative<core::CliArgs>(r));
  CHECK(std::get<core::CliArgs>(r).args == std::vector<std::string>{"--list"});
  CHECK_FALSE(std::get<core::CliArgs>(r).has("list"));
}

TEST_CASE("help text lists tool options, common options and exit codes", "[cli]") {
  auto h = core::help_text(kSpec);
  CHECK(h.rfind("Usage: guestkit-test [OPTION]... THING\nTest tool.\n", 0) == 0);
  CHECK(h.find("  -l, --list") != std::string::npos);
  CHECK(h.find("      --only NAME") != std::string::npos);
  CHECK(h.find("  -r, --root DIR") != std::string::npos);
  CHECK(h.find("  -n, --dry-run") != std::string::npos);
  CHECK(h.find("  64  usage error") != std::string::npos);
}
