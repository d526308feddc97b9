// The plugin runner: ordering, merging of built-in and external plugins, switches,
// masking, failures, timing.

#include "plugins/runner.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "core/cli.hpp"
#include "core/config_features.hpp"
#include "core/paths.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace gp = guestkit::plugins;
namespace fs = std::filesystem;
using guestkit::test::TempDir;

namespace {

std::vector<std::string> g_calls;  // built-in test plugins append their name here

core::Result<gp::Outcome> ok_changed(gp::PluginContext& p) {
  g_calls.push_back("b-changed:" + std::string(p.trigger));
  return gp::Outcome::changed;
}
core::Result<gp::Outcome> ok_unchanged(gp::PluginContext&) {
  g_calls.push_back("b-unchanged");
  return gp::Outcome::unchanged;
}
core::Result<gp::Outcome> fails(gp::PluginContext&) {
  g_calls.push_back("b-fails");
  return core::make_error(core::Errc::bad_input, "broken on purpose");
}
core::Result<gp::Outcome> throws(gp::PluginContext&) {
  g_calls.push_back("b-throws");
  throw std::runtime_error("bug");
}

constexpr gp::BuiltinPlugin kTable[] = {
    {"10-first", "config", "", false, "first built-in", &ok_changed},
    {"20-second", "config mount", "motd", false, "second built-in", &ok_unchanged},
    {"30-fails", "config", "", false, "fails", &fails},
    {"40-throws", "config", "", false, "throws", &throws},
    {"50-critical", "postboot", "", true, "critical failure", &fails},
    {"60-after", "postboot", "", false, "after the critical one", &ok_unchanged},
};

std::string etc_dir(const std::string& trigger) {
  return std::string("etc/guestkit/plugins.d/") + trigger;
}
std::string lib_dir(const std::string& trigger) {
  return std::string(core::paths::kLibPluginsDir).substr(1) + "/" + trigger;
}

// An external plugin that records its run in <root>/calls.
void add_script(const TempDir& t, const std::string& rel, const std::string& tag, int exit_code = 0) {
  t.write(rel,
          "#!/bin/sh\necho \"" + tag + " $GUESTKIT_TRIGGER $GUESTKIT_PLUGIN $*\" >> \"$GUESTKIT_ROOT/calls\"\n"
          "exit " + std::to_string(exit_code) + "\n",
          0755);
}

std::vector<std::string> names(const std::vector<gp::PlanEntry>& plan) {
  std::vector<std::string> out;
  for (const auto& e : plan) out.push_back(e.name);
  return out;
}

const gp::PlanEntry& entry(const std::vector<gp::PlanEntry>& plan, const std::string& name) {
  for (const auto& e : plan)
    if (e.name == name) return e;
  FAIL("no plugin " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("built-ins and externals merge into one bytewise-ordered plan", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/05-hello", "hello");
  add_script(t, lib_dir("config") + "/15-vendor", "vendor");
  add_script(t, etc_dir("config") + "/9-late", "late");  // '9' > '4' bytewise: after 40-throws
  add_script(t, etc_dir("config") + "/A-upper", "upper");
  core::Context ctx(t.root(), core::Config{});
  auto plan = gp::plan_plugins(ctx, "config", kTable);
  REQUIRE(plan);
  CHECK(names(*plan) == std::vector<std::string>{"05-hello", "10-first", "15-vendor", "20-second",
                                                 "30-fails", "40-throws", "9-late", "A-upper"});
  CHECK(entry(*plan, "05-hello").source == gp::Source::admin);
  CHECK(entry(*plan, "15-vendor").source == gp::Source::vendor);
  CHECK(entry(*plan, "10-first").source == gp::Source::builtin);
  // mount only gets the plugin that serves it.
  CHECK(names(*gp::plan_plugins(ctx, "mount", kTable)) == std::vector<std::string>{"20-second"});
}

TEST_CASE("non-plugin names in plugins.d are ignored", "[runner]") {
  TempDir t;
  for (const char* n : {"05-x.dpkg-old", "05-x~", ".05-hidden", "README.md", "05 space"})
    add_script(t, etc_dir("config") + "/" + n, "bad");
  fs::create_directories(t.path() / etc_dir("config") / "subdir");
  add_script(t, etc_dir("config") + "/05-good_one", "good");
  core::Context ctx(t.root(), core::Config{});
  CHECK(names(*gp::plan_plugins(ctx, "config", {})) == std::vector<std::string>{"05-good_one"});
}

TEST_CASE("/etc wins over the vendor dir, which wins over a built-in", "[runner]") {
  TempDir t;
  add_script(t, lib_dir("config") + "/10-first", "vendor-first");
  add_script(t, lib_dir("config") + "/20-second", "vendor-second");
  add_script(t, etc_dir("config") + "/20-second", "admin-second");
  core::Context ctx(t.root(), core::Config{});
  auto plan = gp::plan_plugins(ctx, "config", kTable);
  REQUIRE(plan);
  const auto& first = entry(*plan, "10-first");
  CHECK(first.source == gp::Source::vendor);
  CHECK(first.overrides == std::vector<std::string>{"built-in"});
  const auto& second = entry(*plan, "20-second");
  CHECK(second.source == gp::Source::admin);
  REQUIRE(second.overrides.size() == 2);
  CHECK(second.overrides[1] == "built-in");

  g_calls.clear();
  gp::RunOptions o;
  o.builtins = kTable;
  auto summary = gp::run_plugins(ctx, "config", o);
  CHECK(t.read("calls") == "vendor-first config 10-first \nadmin-second config 20-second \n");
  CHECK(std::find(g_calls.begin(), g_calls.end(), "b-changed:config") == g_calls.end());
}

TEST_CASE("a symlink to /dev/null masks a plugin, built-in included", "[runner]") {
  TempDir t;
  fs::create_directories(t.path() / etc_dir("config"));
  fs::create_symlink("/dev/null", t.path() / etc_dir("config") / "10-first");
  add_script(t, lib_dir("config") + "/15-vendor", "vendor");
  fs::create_symlink("/dev/null", t.path() / etc_dir("config") / "15-vendor");
  core::Context ctx(t.root(), core::Config{});
  auto plan = gp::plan_plugins(ctx, "config", kTable);
  REQUIRE(plan);
  CHECK_FALSE(entry(*plan, "10-first").enabled);
  CHECK(entry(*plan, "10-first").why_disabled == "masked (symlink to /dev/null)");
  CHECK_FALSE(entry(*plan, "15-vendor").enabled);
  g_calls.clear();
  gp::RunOptions o;
  o.builtins = kTable;
  auto s = gp::run_plugins(ctx, "config", o);
  CHECK(std::find(g_calls.begin(), g_calls.end(), "b-changed:config") == g_calls.end());
  CHECK_FALSE(fs::exists(t.path() / "calls"));
  CHECK(s.count(gp::RunStatus::disabled) == 2);
}

TEST_CASE("config switches turn plugins off by name or by feature", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/05-hello", "hello");
  core::Config cfg;
  cfg.plugins.enabled["05-hello"] = false;
  cfg.plugins.enabled["10-first"] = false;
  cfg.motd.enabled = false;  // feature of 20-second
  core::Context ctx(t.root(), cfg);
  auto plan = gp::plan_plugins(ctx, "config", kTable);
  REQUIRE(plan);
  CHECK_FALSE(entry(*plan, "05-hello").enabled);
  CHECK(entry(*plan, "05-hello").why_disabled == "switched off in config (plugins.enabled: 05-hello: false)");
  CHECK_FALSE(entry(*plan, "10-first").enabled);
  CHECK_FALSE(entry(*plan, "20-second").enabled);
  CHECK(entry(*plan, "20-second").why_disabled == "switched off in config (motd: false)");
  CHECK(entry(*plan, "30-fails").enabled);
}

TEST_CASE("unsafe or broken external plugins are listed as disabled and never run", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/01-noexec", "noexec");
  fs::permissions(t.path() / etc_dir("config") / "01-noexec", static_cast<fs::perms>(0644));
  add_script(t, etc_dir("config") + "/02-worldw", "worldw");
  fs::permissions(t.path() / etc_dir("config") / "02-worldw", static_cast<fs::perms>(0777));
  fs::create_symlink("/nowhere", t.path() / etc_dir("config") / "03-dangling");
  fs::create_symlink("../../../../../../../../bin/true", t.path() / etc_dir("config") / "04-escape");
  core::Context ctx(t.root(), core::Config{});
  auto plan = gp::plan_plugins(ctx, "config", {});
  REQUIRE(plan);
  REQUIRE(plan->size() == 4);
  CHECK(entry(*plan, "01-noexec").why_disabled == "not executable");
  CHECK(entry(*plan, "02-worldw").why_disabled == "unsafe: writable by group or others");
  CHECK(entry(*plan, "03-dangling").why_disabled == "dangling symlink");
  CHECK_FALSE(entry(*plan, "04-escape").enabled);
  for (const auto& e : *plan) CHECK_FALSE(e.enabled);
  auto s = gp::run_plugins(ctx, "config", gp::RunOptions{{}, {}, "", {}, true, {}});
  CHECK(s.count(gp::RunStatus::disabled) == 4);
  CHECK_FALSE(fs::exists(t.path() / "calls"));
}

TEST_CASE("a failing plugin is logged and the rest still run: exit 1", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/35-external-fails", "ext-fails", 3);
  add_script(t, etc_dir("config") + "/99-last", "last");
  core::Context ctx(t.root(), core::Config{});
  g_calls.clear();
  gp::RunOptions o;
  o.builtins = kTable;
  o.args = {"arg1"};
  auto s = gp::run_plugins(ctx, "config", o);
  CHECK(g_calls == std::vector<std::string>{"b-changed:config", "b-unchanged", "b-fails", "b-throws"});
  CHECK(t.read("calls") == "ext-fails config 35-external-fails arg1\nlast config 99-last arg1\n");
  REQUIRE(s.records.size() == 6);
  CHECK(s.records[0].status == gp::RunStatus::changed);
  CHECK(s.records[1].status == gp::RunStatus::unchanged);
  CHECK(s.records[2].status == gp::RunStatus::failed);
  CHECK(s.records[2].message == "broken on purpose");
  CHECK(s.records[3].name == "35-external-fails");
  CHECK(s.records[3].status == gp::RunStatus::failed);
  CHECK(s.records[3].message == "exited with status 3");
  CHECK(s.records[4].status == gp::RunStatus::failed);
  CHECK(s.records[4].message == "internal error: bug");
  CHECK(s.records[5].status == gp::RunStatus::ran);
  CHECK(s.exit_code() == core::kExitPartial);
  CHECK_FALSE(s.aborted);
  for (const auto& r : s.records) CHECK(r.duration.count() > 0);
  // The run is recorded for status tools.
  auto record = t.read("run/guestkit/runs/config.json");
  CHECK(record.find("\"35-external-fails\"") != std::string::npos);
  CHECK(record.find("\"exit_code\": 1") != std::string::npos);
}

// A plugin's CPU time is what it made the machine do (its programs included), apart
// from how long it took: a busy loop costs CPU, a sleep only time.
TEST_CASE("each plugin's CPU time counts the programs it ran, not its waits", "[runner]") {
  TempDir t;
  t.write(etc_dir("config") + "/10-busy",
          "#!/bin/sh\ni=0\nwhile [ $i -lt 200000 ]; do i=$((i+1)); done\n", 0755);
  t.write(etc_dir("config") + "/20-sleeps", "#!/bin/sh\nexec sleep 0.4\n", 0755);
  core::Context ctx(t.root(), core::Config{});
  gp::RunOptions o;
  o.builtins = {};  // the two programs alone
  auto s = gp::run_plugins(ctx, "config", o);
  REQUIRE(s.records.size() == 2);
  using std::chrono::milliseconds;
  const auto& busy = s.records[0];
  const auto& sleeps = s.records[1];
  INFO("busy: " << busy.cpu.count() << " ns of CPU in " << busy.duration.count() << " ns");
  INFO("sleeps: " << sleeps.cpu.count() << " ns of CPU in " << sleeps.duration.count() << " ns");
  CHECK(busy.status == gp::RunStatus::ran);
  CHECK(busy.cpu >= milliseconds(50));
  CHECK(busy.cpu <= busy.duration + milliseconds(20));  // one process, one CPU at a time
  CHECK(sleeps.duration >= milliseconds(400));
  CHECK(sleeps.cpu < milliseconds(100));
  CHECK(s.cpu >= busy.cpu + sleeps.cpu);
  // Recorded for the status tools, beside the wall time.
  auto record = nlohmann::json::parse(t.read("run/guestkit/runs/config.json"));
  CHECK(record.at("cpu_ms").get<double>() >= 50.0);
  CHECK(record.at("plugins").at(0).at("cpu_ms").get<double>() >= 50.0);
  CHECK(record.at("plugins").at(1).at("cpu_ms").get<double>() < 100.0);
}

TEST_CASE("a critical failure stops the run: exit 2", "[runner]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  g_calls.clear();
  gp::RunOptions o;
  o.builtins = kTable;
  auto s = gp::run_plugins(ctx, "postboot", o);
  CHECK(g_calls == std::vector<std::string>{"b-fails"});
  CHECK(s.aborted);
  CHECK(s.exit_code() == core::kExitFailed);
}

TEST_CASE("an external plugin that hangs is killed at plugins.timeout", "[runner]") {
  TempDir t;
  t.write(etc_dir("config") + "/05-hangs", "#!/bin/sh\nexec sleep 30\n", 0755);
  core::Config cfg;
  cfg.plugins.timeout = std::chrono::milliseconds(300);
  core::Context ctx(t.root(), cfg);
  auto s = gp::run_plugins(ctx, "config", gp::RunOptions{{}, {}, "", {}, false, {}});
  REQUIRE(s.records.size() == 1);
  CHECK(s.records[0].status == gp::RunStatus::failed);
  CHECK(s.records[0].message.find("timed out") == 0);
  CHECK(s.records[0].duration < std::chrono::seconds(5));
}

TEST_CASE("dry-run runs no external plugin and writes no record", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/05-hello", "hello");
  core::Context ctx(t.root(), core::Config{});
  ctx.dry_run = true;
  std::ostringstream out;
  ctx.out = &out;
  auto s = gp::run_plugins(ctx, "config", gp::RunOptions{{}, {}, "boot", {}, true, {}});
  CHECK_FALSE(fs::exists(t.path() / "calls"));
  CHECK_FALSE(fs::exists(t.path() / "run"));  // no record, no lock file
  CHECK(out.str() == "would run " + (t.path() / etc_dir("config") / "05-hello").string() + "\n");
  CHECK(s.exit_code() == core::kExitOk);
}

TEST_CASE("an unknown trigger is a failed run, not a crash", "[runner]") {
  TempDir t;
  core::Context ctx(t.root(), core::Config{});
  auto s = gp::run_plugins(ctx, "no-such-trigger");
  CHECK(s.exit_code() == core::kExitFailed);
  REQUIRE(s.records.size() == 1);
  CHECK(s.records[0].message == "unknown trigger 'no-such-trigger'");
}

TEST_CASE("print_plan shows order, source, state and reasons", "[runner]") {
  TempDir t;
  add_script(t, etc_dir("config") + "/05-hello", "hello");
  core::Config cfg;
  cfg.motd.enabled = false;
  core::Context ctx(t.root(), cfg);
  auto plan = gp::plan_plugins(ctx, "config", std::span(kTable, 2));
  REQUIRE(plan);
  std::ostringstream os;
  gp::print_plan(os, "config", *plan);
  CHECK(os.str() ==
        "config: 3 plugins, in run order\n"
        "  05-hello   admin     enabled   /etc/guestkit/plugins.d/config/05-hello\n"
        "  10-first   built-in  enabled   first built-in\n"
        "  20-second  built-in  disabled  second built-in (switched off in config (motd: false))\n");
}

TEST_CASE("every registry row is named, unique, and serves real triggers", "[runner]") {
  // builtin_plugins() sorts itself, so order proves nothing; what a typo breaks is
  // checked instead: a trigger word that is no trigger (the plugin would never run),
  // a feature that is no config switch (it could never be turned off), a name twice.
  auto table = gp::builtin_plugins();
  REQUIRE_FALSE(table.empty());
  core::Config config;
  const auto switches = core::detail::feature_switches(config);
  for (std::size_t i = 0; i < table.size(); ++i) {
    INFO(table[i].name);
    CHECK(gp::valid_plugin_name(table[i].name));
    CHECK(table[i].run != nullptr);
    CHECK_FALSE(table[i].triggers.empty());
    // Unique names (the table is sorted, so a duplicate sits next to its twin).
    if (i > 0) CHECK(table[i - 1].name < table[i].name);
    std::istringstream words{std::string(table[i].triggers)};
    std::size_t count = 0;
    for (std::string word; words >> word; ++count) {
      INFO(word);
      CHECK(gp::is_trigger(word));
      CHECK(table[i].serves(word));
    }
    CHECK(count > 0);
    if (!table[i].feature.empty())
      CHECK(std::any_of(switches.begin(), switches.end(),
                        [&](const auto& s) { return s.first == table[i].feature; }));
    // A renamed plugin's old name is no current name (it would shadow the alias).
    for (const auto& r : gp::kRenamedPlugins) CHECK(table[i].name != r.old_name);
  }
  // Each renamed plugin exists under its new name, for the trigger it is renamed in.
  for (const auto& r : gp::kRenamedPlugins) {
    INFO(r.name);
    CHECK(std::any_of(table.begin(), table.end(),
                      [&](const auto& b) { return b.name == r.name && b.serves(r.trigger); }));
  }
  // Each udev helper's table holds its own domain's triggers only (and mount, the boot
  // stage that coldplugs it): a row in the wrong table never runs for its event.
  const std::pair<std::span<const gp::BuiltinPlugin>, std::vector<std::string_view>> domains[] = {
      {gp::disk_plugins(), {"disk-add", "disk-change", "disk-remove", "mount"}},
      {gp::iface_plugins(), {"iface-add", "iface-remove", "mount"}},
      {gp::cpu_memory_plugins(), {"cpu-add", "memory-add", "mount"}},
      {gp::provision_plugins(), {"provision", "set-hostname", "set-password", "ssh-keys"}}};
  for (const auto& [rows, allowed] : domains) {
    for (const auto& b : rows) {
      INFO(b.name);
      std::istringstream words{std::string(b.triggers)};
      for (std::string word; words >> word;)
        CHECK(std::find(allowed.begin(), allowed.end(), word) != allowed.end());
    }
  }
  CHECK(gp::is_trigger("config"));
  CHECK(gp::is_boot_stage("bootstrap"));
  CHECK_FALSE(gp::is_boot_stage("disk-add"));
}

TEST_CASE("every built-in plugin is the one the manual pages list, with its triggers and switch",
          "[runner]") {
  // The expectation comes from the manual pages (guestkit(7)'s PLUGINS section, what
  // admins switch off by name and by feature; guestkit-agent(8) for the orders'), not
  // from the registry: "*10-up-iface*, *20-dhcp-iface*
  // (iface-add; switch *iface*)" is one row a name and trigger; "switch (hook
  // present)" is a plugin with no feature switch.
  std::ifstream man(std::string(GUESTKIT_SOURCE_DIR) + "/config/man/guestkit.7.scd.in");
  REQUIRE(man);
  using Row = std::tuple<std::string, std::string, std::string>;  // name, trigger, feature
  std::set<Row> documented;
  const std::regex entry(R"(((?:\*[0-9]{2}-[a-z-]+\*(?:, )?)+) \(([a-z-]+); switch (.*)\))");
  const std::regex name_re(R"(\*([0-9]{2}-[a-z-]+)\*)");
  const std::regex feature_re(R"(^\*([a-z_]+)\*.*)");
  bool in_plugins = false;
  std::smatch m, f;
  for (std::string line; std::getline(man, line);) {
    if (line.starts_with("# ")) in_plugins = line == "# PLUGINS";
    if (!in_plugins || !std::regex_match(line, m, entry)) continue;
    const std::string names = m[1], trigger = m[2], how = m[3];
    const std::string feature = std::regex_match(how, f, feature_re) ? f[1].str() : "";
    for (std::sregex_iterator n(names.begin(), names.end(), name_re), e; n != e; ++n)
      documented.emplace((*n)[1], trigger, feature);
  }
  CHECK(documented.size() > 20);
  // The agent's orders, from guestkit-agent(8): the "provision" list ("*10-set-hostname*"
  // alone on its line) and the single ops, which run "under triggers of their own names
  // (*10-set-hostname*; *20-set-root-password* for root, ...; *40-install-ssh-keys*)".
  std::ifstream agent(std::string(GUESTKIT_SOURCE_DIR) + "/config/man/guestkit-agent.8.scd.in");
  REQUIRE(agent);
  const std::regex alone(R"(\*([0-9]{2}-[a-z-]+)\*)");
  const std::regex op_word(R"(\*([a-z-]+)\*)");
  bool in_list = false;
  std::string ops_paragraph;
  for (std::string line; std::getline(agent, line);) {
    if (line.find("then runs the *provision* plugins:") != std::string::npos) in_list = true;
    if (line.starts_with("then external plugins")) in_list = false;
    if (in_list && std::regex_match(line, m, alone)) documented.emplace(m[1], "provision", "");
    if (line.starts_with("The single ops "))
      ops_paragraph = line;
    else if (!ops_paragraph.empty() && ops_paragraph.find(')') == std::string::npos)
      ops_paragraph += " " + line;
  }
  const auto paren = ops_paragraph.find("own names (");
  REQUIRE(paren != std::string::npos);
  const std::string heads = ops_paragraph.substr(0, ops_paragraph.find(" run the same"));
  std::vector<std::string> ops;
  for (std::sregex_iterator o(heads.begin(), heads.end(), op_word), e; o != e; ++o)
    ops.push_back((*o)[1]);
  std::istringstream groups(
      ops_paragraph.substr(paren + 11, ops_paragraph.find(')', paren) - paren - 11));
  std::size_t op = 0;
  for (std::string group; std::getline(groups, group, ';'); ++op) {
    REQUIRE(op < ops.size());
    for (std::sregex_iterator n(group.begin(), group.end(), name_re), e; n != e; ++n)
      documented.emplace((*n)[1], ops[op], "");
  }
  CHECK(op == 3);
  std::set<Row> registered;
  for (const auto& b : gp::builtin_plugins()) {
    std::istringstream words{std::string(b.triggers)};
    for (std::string word; words >> word;)
      registered.emplace(std::string(b.name), word, std::string(b.feature));
  }
  const auto missing_from = [](const std::set<Row>& a, const std::set<Row>& b) {
    std::string out;
    for (const auto& [name, trigger, feature] : a)
      if (!b.count({name, trigger, feature})) out += name + " (" + trigger + "; " + feature + ")\n";
    return out;
  };
  CHECK(missing_from(registered, documented) == "");  // in the registry, not in the page
  CHECK(missing_from(documented, registered) == "");  // in the page, not in the registry
}
