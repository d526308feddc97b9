#include "agent/agent.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "agent/ops.hpp"
#include "agent/session.hpp"
#include "agent/state.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::agent {
namespace {

std::ostringstream g_cerr;
bool g_silenced = false;

}  // namespace

const core::ToolSpec& agent_tool() {
  static const core::ToolSpec spec{
      "guestkit-agent",
      "[OPTION]...",
      "Take the hosting platform's sealed provisioning orders on the connection on fd 0.",
      "inetd, xinetd or systemd (Accept=yes) start one agent per connection, with the\n"
      "socket on standard input. Settings: agent.* in /etc/guestkit/agent.yml.\n"
      "The protocol is described in PROTOCOL.md (/usr/share/doc/guestkit).",
      {
          {"listen", 'l', true, "SPEC",
           "accept connections on tcp:ADDR:PORT, unix:PATH or vsock:PORT\n"
           "(without inetd), one agent process per connection; or\n"
           "serve one session after another on serial:PATH, a\n"
           "virtio-serial port such as\n"
           "/dev/virtio-ports/org.guestkit.agent.0 (or a serial line)"},
          {"enable", 0, false, "",
           "re-enable the inetd/xinetd entry or socket unit that a\n"
           "successful provision retired, and exit"},
          {"disable", 0, false, "", "retire the agent's entry now, and exit"},
          {"log-file", 0, true, "FILE", "append log lines to FILE instead of syslog (tests)"},
      },
      0,
      0,
  };
  return spec;
}

void silence_stderr() {
  struct stat st {};
  // A terminal or a file is a person's or a log's; only a socket is the peer's.
  if (::fstat(STDERR_FILENO, &st) != 0 || !S_ISSOCK(st.st_mode)) return;
  const int null = ::open(core::paths::kDevNull, O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  std::cerr.rdbuf(g_cerr.rdbuf());
  g_silenced = true;
}

std::string take_silenced_stderr() {
  std::string text = g_cerr.str();
  g_cerr.str("");
  return text;
}

int run_agent(const core::CliArgs& args) {
  core::LogSetup log;
  log.program = "guestkit-agent";
  log.max_level = args.debug ? core::Level::debug : core::Level::info;
  if (args.has("log-file")) {
    log.sink = core::LogSink::file;
    log.file = args.options.at("log-file");
  } else if (args.log_stderr && !g_silenced) {
    log.sink = core::LogSink::stderr_stream;
  }
  core::log_setup(log);

  auto root = core::Root::open(args.root);
  if (!root) {
    core::log_error(root.error().message());
    return core::kExitFailed;
  }
  core::ConfigLoadOptions load;
  if (args.config) load.file = std::filesystem::path(*args.config);
  load.extra_files = {core::paths::kAgentConfigFile};
  load.cache = !args.dry_run;  // yaml-cpp would be most of a spawn's start
  auto config = core::load_config(*root, load);
  if (!config) {
    for (const auto& line : core::split_lines(config.error().context)) core::log_error(line);
    if (!g_silenced) std::cerr << "guestkit-agent: " << config.error().context << "\n";
    return core::kExitFailed;
  }
  core::Context ctx(std::move(root).value(), std::move(config).value());
  ctx.program = "guestkit-agent";
  ctx.dry_run = args.dry_run;

  if (args.has("enable") || args.has("disable")) {
    auto done = set_delivery_enabled(ctx.root, args.has("enable"));
    if (!done) {
      core::log_error(done.error().message());
      std::cerr << "guestkit-agent: " << done.error().message() << "\n";
      return core::kExitFailed;
    }
    for (const auto& what : *done) {
      core::log_notice(what);
      std::cout << what << "\n";
    }
    if (done->empty()) std::cout << "nothing to change\n";
    return core::kExitOk;
  }

  AgentState state{ctx, read_instance_id(ctx.root), {}, ctx.config.agent.auth == "none"};
  AgentKey key;
  if (state.auth_none)
    core::log_warning(
        "agent.auth is none: orders are NOT authenticated; only for trusted transports");
  const std::string listen = args.has("listen") ? args.options.at("listen") : "";
  if (listen.starts_with("serial:")) return serve_serial(ctx, state.auth_none, listen.substr(7));
  if (!state.auth_none) {
    key = load_agent_key(ctx.root, ctx.config.agent);
    if (!key.usable()) {
      state.key_problem = key.problem;
      core::log_warning("no usable agent key (", key.problem, "): every op but info is refused");
    }
  }
  if (state.instance_id.empty()) core::log_warning("no instance id: provision is refused");
  const SecretBytes* k = key.usable() ? &key.key : nullptr;
  if (args.has("listen")) return listen_and_serve(state, k, args.options.at("listen"));
  return run_session(state, STDIN_FILENO, k);
}

}  // namespace guestkit::agent
