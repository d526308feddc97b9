#include "plugins/iface/dhcp_client.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"
#include "plugins/iface/iface.hpp"

namespace guestkit::plugins::iface {
namespace {

constexpr Client kOrder[] = {Client::dhclient, Client::dhcpcd, Client::udhcpc};
// udhcpc sends DISCOVER this often (seconds) while it has no lease.
constexpr int kUdhcpcPause = 3;
// How long past its tries a detaching udhcpc may take (its script, the fork).
constexpr int kUdhcpcGrace = 5;

std::optional<pid_t> parse_pid(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || end != text.data() + text.size() || pid <= 1) return std::nullopt;
  return pid;
}

std::vector<std::string> split_nul(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('\0', start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Whether a command line is a DHCP client working on `name`.
bool is_client_on(const std::vector<std::string>& argv, std::string_view name) {
  if (argv.empty()) return false;
  auto slash = argv[0].rfind('/');
  std::string prog = slash == std::string::npos ? argv[0] : argv[0].substr(slash + 1);
  if (!client_from_name(prog)) return false;
  // dhcpcd's privilege-separated helpers name the interface inside one argument
  // ("dhcpcd: eth1 [ip4]"), so look at words too.
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == name) return true;
    if (argv[i].rfind("-i", 0) == 0 && argv[i].substr(2) == name) return true;  // udhcpc -iNAME
  }
  return false;
}

core::Result<std::vector<std::string>> cmdline(const core::Root& root, pid_t pid) {
  auto text = core::read_file_if_exists(
      root, std::string(core::paths::kProcDir) + "/" + std::to_string(pid) + "/cmdline", 1 << 16);
  if (!text) return std::move(text).error();
  if (!*text) return std::vector<std::string>{};
  return split_nul(**text);
}

// A small file of a process's /proc directory, whole; "" when it cannot be read (the
// process has ended, a kernel thread's empty command line) or holds over `limit`
// bytes (never cut: a cut "eth10" would read as "eth1").
std::string read_small(int dir, const char* file, std::size_t limit) {
  core::UniqueFd fd(::openat(dir, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return {};
  std::string text(limit + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {};
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > limit) return {};
  text.resize(got);
  return text;
}

// Whether a process (its /proc directory) works in another network namespace than
// ours: a client there (a container's, another test's) configures an interface of
// that namespace, whatever its name. Only on the host root, whose /proc is live;
// unknown counts as ours.
bool in_other_netns(const core::Root& root, int dir) {
  if (!root.is_host()) return false;
  const std::string proc(core::paths::kProcDir);
  struct stat mine {
  }, theirs{};
  if (::stat((proc + "/self/ns/net").c_str(), &mine) < 0 ||
      ::fstatat(dir, "ns/net", &theirs, 0) < 0)
    return false;
  return mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev;
}

}  // namespace

std::string_view client_name(Client client) {
  switch (client) {
    case Client::dhclient:
      return "dhclient";
    case Client::dhcpcd:
      return "dhcpcd";
    case Client::udhcpc:
      return "udhcpc";
  }
  return "?";
}

std::optional<Client> client_from_name(std::string_view name) {
  for (auto c : kOrder)
    if (client_name(c) == name) return c;
  return std::nullopt;
}

std::optional<Client> choose_client(const core::Root& root, const core::IfaceConfig& config) {
  if (config.dhcp_client != "auto") {
    auto c = client_from_name(config.dhcp_client);
    if (c && core::find_program(client_name(*c), root.prefix().string())) return c;
    return std::nullopt;
  }
  for (auto c : kOrder)
    if (core::find_program(client_name(c), root.prefix().string())) return c;
  return std::nullopt;
}

ClientCommand client_command(Client client, std::string_view name_in, const std::string& pid_file,
                             const std::string& lease_file, std::uint32_t metric, bool foreground,
                             std::chrono::milliseconds budget) {
  const std::string name(name_in);
  ClientCommand cmd;
  cmd.timeout = std::chrono::seconds(10);
  switch (client) {
    case Client::dhclient:
      // IF_METRIC is read by Debian's and Fedora's dhclient-script for the routes.
      cmd.argv = {"dhclient", "-4",     foreground ? "-d" : "-nw",
                  "-pf",      pid_file, "-lf",
                  lease_file, "-e",     "IF_METRIC=" + std::to_string(metric),
                  name};
      break;
    case Client::dhcpcd:
      // dhcpcd keeps its own pid file; -m sets the route metric itself.
      cmd.argv = {"dhcpcd", "-4", foreground ? "-B" : "-b", "-m", std::to_string(metric), name};
      break;
    case Client::udhcpc: {
      // udhcpc cannot detach before it has a lease: -b detaches once its tries are
      // spent. Tries times pause stays within the budget (whole seconds, at least one
      // try of one second), so the caller's deadline holds.
      const long secs =
          std::max<long>(1, std::chrono::duration_cast<std::chrono::seconds>(budget).count());
      const long pause = std::min<long>(kUdhcpcPause, secs);
      const long tries = secs / pause;
      cmd.argv = {"udhcpc", "-i", name, "-p", pid_file};
      if (foreground) {
        cmd.argv.push_back("-f");
      } else {
        cmd.argv.insert(cmd.argv.end(),
                        {"-b", "-t", std::to_string(tries), "-T", std::to_string(pause)});
        // Only a guard against a udhcpc that never detaches (it would be killed).
        cmd.timeout = std::chrono::seconds(tries * pause + kUdhcpcGrace);
      }
      break;
    }
  }
  return cmd;
}

core::Result<std::vector<pid_t>> clients_on(const core::Root& root, std::string_view name) {
  // One descriptor on /proc, one on each process's directory: every file of a process
  // is read from the directory opened once (a pid that ends and is reused meanwhile
  // gives ESRCH, never another process's file), and each open is one openat(2), not a
  // walk from the root. Its comm first (one short read): only a process named like a
  // DHCP client has its command line read. At boot this scan ran beside every other
  // service's start: reading each process's whole command line cost it 0.3 s of CPU
  // on the e2e guest's single vCPU.
  auto proc = root.open(core::paths::kProcDir, O_RDONLY | O_DIRECTORY, 0, core::Follow::never);
  if (!proc) return std::move(proc).error();
  // Listed through that descriptor too (a second one on the same directory: readdir
  // moves its offset), not by the path again.
  core::UniqueFd listing(::openat(proc->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* procdir = listing ? ::fdopendir(listing.get()) : nullptr;
  if (!procdir) {
    const int err = errno;
    return core::make_error(std::error_code(err, std::generic_category()),
                            "cannot list " + root.display(core::paths::kProcDir));
  }
  listing.release();  // owned by procdir now
  std::vector<pid_t> out;
  while (const dirent* e = ::readdir(procdir)) {
    auto pid = parse_pid(e->d_name);
    if (!pid) continue;
    core::UniqueFd dir(::openat(proc->get(), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) continue;  // it has just ended
    auto comm = read_small(dir.get(), "comm", 64);
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (!client_from_name(comm)) continue;
    if (is_client_on(split_nul(read_small(dir.get(), "cmdline", 1 << 16)), name) &&
        !in_other_netns(root, dir.get()))
      out.push_back(*pid);
  }
  ::closedir(procdir);
  std::sort(out.begin(), out.end());
  return out;
}

core::Result<std::optional<pid_t>> our_client(const core::Root& root, std::string_view name) {
  auto text = core::read_file_if_exists(root, pid_path(name), 64, core::Follow::never);
  if (!text) return std::move(text).error();
  if (!*text) return std::optional<pid_t>();
  auto pid = parse_pid(**text);
  if (!pid) return std::optional<pid_t>();
  auto argv = cmdline(root, *pid);
  if (!argv || !is_client_on(*argv, name)) return std::optional<pid_t>();
  return std::optional<pid_t>(*pid);
}

core::Result<std::optional<core::Process>> open_our_client(const core::Root& root,
                                                           std::string_view name) {
  using Found = std::optional<core::Process>;
  auto text = core::read_file_if_exists(root, pid_path(name), 64, core::Follow::never);
  if (!text) return std::move(text).error();
  if (!*text) return Found();
  auto pid = parse_pid(**text);
  if (!pid) return Found();
  auto process = core::Process::open(*pid);
  if (!process) {
    if (process.error().code == std::errc::no_such_process) return Found();
    return std::move(process).error();
  }
  auto argv = process->cmdline();
  if (!argv) {
    if (argv.error().code == std::errc::no_such_process) return Found();
    return std::move(argv).error();
  }
  if (!is_client_on(*argv, name)) return Found();
  return Found(std::move(process).value());
}

core::Status stop_process(const core::Process& process, std::chrono::milliseconds grace) {
  return process.stop(grace);
}

}  // namespace guestkit::plugins::iface
