// core::run_tool: the one way guestkit runs a system tool. These pin its policy: the
// error text (tool name, status or signal, the tail of what it said), the dry-run
// report, and that neither argv beyond the name nor stdin (where secrets go) is shown.

#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "core/context.hpp"
#include "core/exec.hpp"
#include "tests/support.hpp"

using namespace guestkit::core;
using guestkit::test::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string failure_of(const std::vector<std::string>& argv, const ToolOptions& options = {}) {
  auto r = run_tool(argv, options);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::failed);
  return r.error().message();
}

}  // namespace

TEST_CASE("run_tool: a failing tool is an error naming it, its status and its last words",
          "[exec-tool]") {
  // The banner and the first lines are not what says why: the last three lines are.
  CHECK(failure_of({"sh", "-c",
                    "echo 'tool 1.0 (banner)' >&2; echo one >&2; echo >&2; echo two >&2;"
                    "echo '  three  ' >&2; echo four >&2; echo out; exit 3"}) ==
        "sh exited with status 3: two; three; four");
  // Nothing on stderr: what it printed on stdout (sgdisk, growpart report there).
  CHECK(failure_of({"sh", "-c", "echo first; echo 'NOCHANGE: why'; exit 1"}) ==
        "sh exited with status 1: first; NOCHANGE: why");
  // Nothing said at all.
  CHECK(failure_of({"false"}) == "false exited with status 1");
}

TEST_CASE("run_tool: a tool killed by a signal or the timeout says so", "[exec-tool]") {
  CHECK(failure_of({"sh", "-c", "echo dying >&2; kill -9 $$"}) ==
        "sh killed by signal 9 (Killed): dying");
  ToolOptions o;
  o.timeout = 200ms;
  const auto slow = failure_of({"sh", "-c", "echo waiting >&2; exec sleep 30"}, o);
  CHECK(slow.rfind("sh timed out after ", 0) == 0);
  CHECK(slow.ends_with(" s: waiting"));
}

TEST_CASE("run_tool: a missing tool is an ENOENT error naming it", "[exec-tool]") {
  auto r = run_tool({"guestkit-no-such-tool", "--flag"});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == std::errc::no_such_file_or_directory);
  CHECK(r.error().message().find("guestkit-no-such-tool") != std::string::npos);
  // Also when its failure would be the caller's to read: it never ran.
  ToolOptions o;
  o.failure_is_error = false;
  CHECK_FALSE(run_tool({"guestkit-no-such-tool"}, o));
}

TEST_CASE("run_tool: failure_is_error false hands the status to the caller", "[exec-tool]") {
  ToolOptions o;
  o.failure_is_error = false;
  auto r = run_tool({"sh", "-c", "echo fixed >&2; exit 1"}, o);
  REQUIRE(r);
  CHECK(r->exit_code == 1);
  CHECK(r->err == "fixed\n");
  CHECK_FALSE(r->dry_run);
  // The caller that decides it is a failure after all says it in the same words.
  CHECK(tool_error({"e2fsck", "-p", "/dev/vdb"}, *r).message() ==
        "e2fsck exited with status 1: fixed");
}

TEST_CASE("run_tool: the error shows neither argv nor stdin, and escapes control bytes",
          "[exec-tool]") {
  ToolOptions o;
  o.stdin_data = "alice:$y$secret-hash\n";
  const auto text = failure_of(
      {"sh", "-c", "cat >/dev/null; printf 'bad \\033[31mline\\n' >&2; exit 4", "--not-shown"}, o);
  CHECK(text == "sh exited with status 4: bad \\x1b[31mline");
  CHECK(text.find("secret") == std::string::npos);
  CHECK(text.find("not-shown") == std::string::npos);
}

TEST_CASE("run_tool: a tool that echoes its stdin back does not carry the secret out",
          "[exec-tool]") {
  // chpasswd's input is "name:hash"; a tool quoting the line it choked on must not put
  // the hash into the error (which is logged and may be sent to the platform).
  ToolOptions o;
  o.stdin_data = "alice:$6$salt$SecretHashValue\n";
  const auto text = failure_of({"sh", "-c", "printf 'line 1: bad entry '; cat; exit 1", "sh"}, o);
  CHECK(text.find("SecretHashValue") == std::string::npos);
  CHECK(text == "sh exited with status 1: line 1: bad entry alice:<redacted>");
}

TEST_CASE("run_tool: a long tail keeps its end, within the cap, on a character boundary",
          "[exec-tool]") {
  // 600 bytes of two-byte characters, then the reason.
  std::string noise;
  for (int i = 0; i < 300; ++i) noise += "\xc3\xa9";
  ExecResult r;
  r.exit_code = 1;
  r.err = noise + " the end\n";
  const std::string text = tool_error({"tool"}, r).message();
  const std::string prefix = "tool exited with status 1: ...";
  REQUIRE(text.rfind(prefix, 0) == 0);
  const std::string tail = text.substr(prefix.size());
  CHECK(tail.size() <= kToolTailBytes);
  CHECK(tail.size() >= kToolTailBytes - 1);
  CHECK(tail.ends_with(" the end"));
  // Whole characters only: no escaped half of one (sanitize would show it as \xNN).
  CHECK(tail.find("\\x") == std::string::npos);
}

TEST_CASE("run_tool: under a Context, dry-run reports what would run", "[exec-tool]") {
  TempDir t;
  const auto marker = t.path() / "ran";
  const std::vector<std::string> touch{"touch", marker.string()};
  std::ostringstream out;
  Context ctx(Root::host(), Config{});
  ctx.out = &out;

  SECTION("a change in dry-run is reported, not run") {
    ctx.dry_run = true;
    for (auto effect : {ToolEffect::changes, ToolEffect::changes_live}) {
      auto r = run_tool(ctx, effect, touch);
      REQUIRE(r);
      CHECK(r->dry_run);
      CHECK(r->success());
    }
    CHECK_FALSE(fs::exists(marker));
    CHECK(out.str() ==
          "would run touch " + marker.string() + "\nwould run touch " + marker.string() + "\n");
    // A tool that only reads runs in dry-run too: its answer decides what would be done.
    auto read = run_tool(ctx, ToolEffect::reads, {"echo", "answer"});
    REQUIRE(read);
    CHECK_FALSE(read->dry_run);
    CHECK(read->out == "answer\n");
  }
  SECTION("not in dry-run, a change runs") {
    auto r = run_tool(ctx, ToolEffect::changes_live, touch);
    REQUIRE(r);
    CHECK_FALSE(r->dry_run);
    CHECK(fs::exists(marker));
    CHECK(out.str().empty());
  }
  SECTION("under --root, a change to the image runs, one to the live system is reported") {
    auto root = Root::open(t.path());
    REQUIRE(root);
    Context image(*root, Config{});
    image.out = &out;
    auto live = run_tool(image, ToolEffect::changes_live, touch);
    REQUIRE(live);
    CHECK(live->dry_run);
    CHECK_FALSE(fs::exists(marker));
    CHECK(out.str() == "would run touch " + marker.string() + "\n");
    auto change = run_tool(image, ToolEffect::changes, touch);
    REQUIRE(change);
    CHECK_FALSE(change->dry_run);
    CHECK(fs::exists(marker));
  }
  SECTION("a failure under a Context is the same error") {
    auto r = run_tool(ctx, ToolEffect::changes, {"sh", "-c", "echo no >&2; exit 2"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "sh exited with status 2: no");
  }
}
