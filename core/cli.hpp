#pragma once
// The command line every guestkit binary shares: --help, --version, --root DIR,
// --config FILE, --dry-run, --log-stderr, --debug, plus the tool's own options, and
// the documented exit codes. A main is: parse_cli, make_context, call the library,
// return the exit code.

#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/context.hpp"
#include "core/result.hpp"

namespace guestkit::core {

// Exit codes of every guestkit binary.
enum ExitCode : int {
  kExitOk = 0,       // everything done (or nothing to do)
  kExitPartial = 1,  // done, but a non-critical step failed (see the log)
  kExitFailed = 2,   // a critical step failed, or the configuration is invalid
  kExitUsage = 64,   // bad command line (EX_USAGE)
};

struct ToolOption {
  std::string long_name;  // "list"
  char short_name = 0;    // 'l', or 0
  bool takes_value = false;
  std::string value_name;  // "NAME" for --only NAME
  std::string help;
};

struct ToolSpec {
  std::string name;         // "guestkit-boot"
  std::string synopsis;     // "[OPTION]... STAGE"
  std::string summary;      // one line under the synopsis
  std::string description;  // further paragraphs of --help (arguments, examples)
  std::vector<ToolOption> options;
  std::size_t min_args = 0;
  std::size_t max_args = std::numeric_limits<std::size_t>::max();
};

struct CliArgs {
  std::string root = "/";
  std::optional<std::string> config;
  bool dry_run = false;
  bool log_stderr = false;
  bool debug = false;
  std::map<std::string, std::string> options;  // the tool's own: long name -> value ("" for flags)
  std::vector<std::string> args;               // positional arguments

  bool has(const std::string& long_name) const { return options.count(long_name) != 0; }
};

std::string help_text(const ToolSpec& spec);

// Parses argv. Returns the arguments, or the exit code main should return at once:
// 0 after --help/--version (printed to stdout), 64 after a usage error (stderr).
std::variant<CliArgs, int> parse_cli(const ToolSpec& spec, int argc, char** argv);

// Sets up logging, opens the root and loads the configuration. On failure the
// problem has been reported (stderr and log) and the Error says why; main returns
// kExitFailed.
Result<std::unique_ptr<Context>> make_context(const ToolSpec& spec, const CliArgs& args);

// Reports a fatal problem: to stderr (a person is waiting for it) and to the log.
void report_fatal(const ToolSpec& spec, const std::string& message);

}  // namespace guestkit::core
