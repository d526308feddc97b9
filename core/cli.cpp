#include "core/cli.hpp"

#include <getopt.h>
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "core/build_info.hpp"
#include "core/files.hpp"
#include "core/log.hpp"

namespace guestkit::core {
namespace {

struct CommonOption {
  const char* long_name;
  char short_name;
  const char* value_name;
  const char* help;
};

constexpr CommonOption kCommon[] = {
    {"root", 'r', "DIR", "act on the system tree under DIR instead of / (image builds, tests);\n"
                         "nothing outside DIR is touched and no live mount, service or\n"
                         "network is changed"},
    {"config", 'c', "FILE", "read FILE (and FILE.d/*.yml) instead of /etc/guestkit/guestkit.yml"},
    {"dry-run", 'n', nullptr, "print what would be done, change nothing"},
    {"log-stderr", 0, nullptr, "log to standard error instead of syslog"},
    {"debug", 'd', nullptr, "log debug messages too"},
    {"help", 'h', nullptr, "show this help and exit"},
    {"version", 'V', nullptr, "show the version and exit"},
};

void option_line(std::ostringstream& os, char short_name, const std::string& long_name,
                 const std::string& value_name, const std::string& help) {
  std::string left = "  ";
  left += short_name ? std::string("-") + short_name + ", " : std::string("    ");
  left += "--" + long_name;
  if (!value_name.empty()) left += " " + value_name;
  const std::size_t column = 24;
  os << left;
  std::istringstream lines(help);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    if (first && left.size() < column) {
      os << std::string(column - left.size(), ' ') << line << '\n';
    } else {
      if (first) os << '\n';
      os << std::string(column, ' ') << line << '\n';
    }
    first = false;
  }
}

int usage_error(const ToolSpec& spec, const std::string& message) {
  std::cerr << spec.name << ": " << message << "\n"
            << "Try '" << spec.name << " --help' for more information.\n";
  return kExitUsage;
}

}  // namespace

std::string help_text(const ToolSpec& spec) {
  std::ostringstream os;
  os << "Usage: " << spec.name << " " << spec.synopsis << "\n" << spec.summary << "\n";
  if (!spec.description.empty()) os << "\n" << spec.description << "\n";
  os << "\nOptions:\n";
  for (const auto& o : spec.options) option_line(os, o.short_name, o.long_name, o.value_name, o.help);
  for (const auto& o : kCommon)
    option_line(os, o.short_name, o.long_name, o.value_name ? o.value_name : "", o.help);
  os << "\nExit status:\n"
        "  0   success (also when there was nothing to do)\n"
        "  1   partial: a non-critical step failed, the others ran (see the log)\n"
        "  2   failure: a critical step failed, or the configuration is invalid\n"
        "  64  usage error\n"
        "\nLogs go to syslog (ident guestkit, facility daemon) unless --log-stderr.\n"
        "Configuration: /etc/guestkit/guestkit.yml and /etc/guestkit/guestkit.yml.d/*.yml.\n";
  return os.str();
}

std::variant<CliArgs, int> parse_cli(const ToolSpec& spec, int argc, char** argv) {
  std::vector<option> longopts;
  // Leading ':' so a missing value is reported as ':'. No '+': options may follow
  // positionals ("guestkit-boot config --list"), as GNU tools allow.
  std::string shortopts = ":";
  // Values >= 256 identify long-only options: 256 + index in the combined table.
  struct Entry {
    std::string name;
    bool value;
    bool tool;
  };
  std::vector<Entry> entries;
  for (const auto& o : spec.options) entries.push_back({o.long_name, o.takes_value, true});
  for (const auto& o : kCommon) entries.push_back({o.long_name, o.value_name != nullptr, false});
  for (std::size_t i = 0; i < entries.size(); ++i) {
    longopts.push_back({entries[i].name.c_str(), entries[i].value ? required_argument : no_argument,
                        nullptr, static_cast<int>(256 + i)});
  }
  longopts.push_back({nullptr, 0, nullptr, 0});
  auto short_of = [&](std::size_t i) -> char {
    return i < spec.options.size() ? spec.options[i].short_name
                                   : kCommon[i - spec.options.size()].short_name;
  };
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (char s = short_of(i)) {
      shortopts += s;
      if (entries[i].value) shortopts += ':';
    }
  }

  CliArgs args;
  ::optind = 0;  // full reset, so parse_cli can run more than once (tests)
  ::opterr = 0;
  for (;;) {
    int c = ::getopt_long(argc, argv, shortopts.c_str(), longopts.data(), nullptr);
    if (c == -1) break;
    if (c == '?') {
      std::string bad = ::optopt ? std::string("-") + static_cast<char>(::optopt)
                                 : std::string(argv[::optind - 1]);
      return usage_error(spec, "unrecognized option '" + bad + "'");
    }
    if (c == ':') return usage_error(spec, "option '" + std::string(argv[::optind - 1]) + "' needs a value");
    std::size_t index = entries.size();
    if (c >= 256) {
      index = static_cast<std::size_t>(c - 256);
    } else {
      for (std::size_t i = 0; i < entries.size(); ++i)
        if (short_of(i) == c) index = i;
    }
    if (index >= entries.size()) return usage_error(spec, "unrecognized option");
    const Entry& e = entries[index];
    std::string value = e.value && ::optarg ? ::optarg : "";
    if (e.tool) {
      args.options[e.name] = value;
      continue;
    }
    if (e.name == "help") {
      std::cout << help_text(spec);
      return kExitOk;
    }
    if (e.name == "version") {
      std::cout << spec.name << " (guestkit) " << kVersion << "\n";
      return kExitOk;
    }
    if (e.name == "root") {
      if (value.empty()) return usage_error(spec, "--root needs a directory");
      args.root = value;
    } else if (e.name == "config") {
      if (value.empty()) return usage_error(spec, "--config needs a file");
      args.config = value;
    } else if (e.name == "dry-run") {
      args.dry_run = true;
    } else if (e.name == "log-stderr") {
      args.log_stderr = true;
    } else if (e.name == "debug") {
      args.debug = true;
    }
  }
  for (int i = ::optind; i < argc; ++i) args.args.emplace_back(argv[i]);
  if (args.args.size() < spec.min_args) return usage_error(spec, "missing argument");
  if (args.args.size() > spec.max_args)
    return usage_error(spec, "unexpected argument '" + args.args[spec.max_args] + "'");
  return args;
}

void report_fatal(const ToolSpec& spec, const std::string& message) {
  // One line each, so multi-line reports (all config errors) stay readable in syslog.
  // With --log-stderr the log line already is the stderr line.
  for (const auto& line : split_lines(message)) {
    if (log_sink() != LogSink::stderr_stream) std::cerr << spec.name << ": " << line << "\n";
    log_error(line);
  }
}

Result<std::unique_ptr<Context>> make_context(const ToolSpec& spec, const CliArgs& args) {
  LogSetup setup;
  setup.program = spec.name;
  setup.sink = args.log_stderr ? LogSink::stderr_stream : LogSink::syslog;
  setup.max_level = args.debug ? Level::debug : Level::info;
  log_setup(setup);

  auto root = Root::open(args.root);
  if (!root) {
    report_fatal(spec, root.error().message());
    return std::move(root).error();
  }
  ConfigLoadOptions load;
  if (args.config) load.file = std::filesystem::path(*args.config);
  // A dry run reads and writes nothing it does not have to.
  load.cache = !args.dry_run;
  auto config = load_config(*root, load);
  if (!config) {
    report_fatal(spec, config.error().message());
    return std::move(config).error();
  }
  for (const auto& w : config->warnings) log_warning(w, ", ignoring");
  for (const auto& s : config->sources) log_debug("configuration: read ", s);

  auto ctx = std::make_unique<Context>(std::move(root).value(), std::move(config).value());
  ctx->dry_run = args.dry_run;
  ctx->program = spec.name;
  return ctx;
}

}  // namespace guestkit::core
