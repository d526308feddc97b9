// Program lookup and child environment for core/exec (see exec_path.hpp).

#include "core/exec_path.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "core/root.hpp"

namespace guestkit::core {
namespace detail {

std::vector<std::string> split_path(std::string_view list) {
  std::vector<std::string> dirs;
  while (!list.empty()) {
    auto colon = list.find(':');
    dirs.emplace_back(list.substr(0, colon));
    list = colon == std::string_view::npos ? std::string_view{} : list.substr(colon + 1);
  }
  return dirs;
}

// execvp's rules, minus the caller's PATH: the first executable regular file wins;
// a non-executable match makes the final error EACCES instead of ENOENT.
Result<std::string> lookup(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  int err = ENOENT;
  for (const auto& dir : split_path(kSafePath)) {
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) < 0 || !S_ISREG(st.st_mode)) continue;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    err = EACCES;
  }
  return errno_error("find program " + name, err);
}

Result<std::vector<std::string>> build_env(const ExecOptions& options) {
  std::map<std::string, std::string> env{{"PATH", kSafePath}, {"LC_ALL", "C"}};
  // A process running under LD_PRELOAD (a fault-injection or sanitizer library in a
  // test) hands it on: whoever set it already runs code in this process, so the child
  // gains nobody anything, and a test can interrupt the child tools at any point.
  if (const char* preload = ::getenv("LD_PRELOAD"); preload && *preload)
    env["LD_PRELOAD"] = preload;
  for (const auto& [key, value] : options.env) {
    if (key.empty() || key.find_first_of(std::string_view("=\0", 2)) != std::string::npos ||
        value.find('\0') != std::string::npos)
      return make_error(Errc::bad_input, "environment variable '" + std::string(key.c_str()) + "'");
    env[key] = value;
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : env) out.push_back(key + "=" + value);
  return out;
}

}  // namespace detail

std::optional<std::string> find_program(std::string_view name, std::string_view prefix) {
  if (name.empty() || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos)
    return std::nullopt;
  // Through Root, so an absolute symlink in an image tree (/sbin/x -> /usr/sbin/x)
  // resolves inside the image, not on the host.
  auto root = Root::open(std::filesystem::path(prefix));
  if (!root) return std::nullopt;
  for (const auto& dir : detail::split_path(kSafePath)) {
    auto guest = root->resolve(dir + "/" + std::string(name), Follow::in_root, true);
    if (!guest) continue;
    auto st = root->stat(*guest, Follow::never);
    if (!st || !*st || !S_ISREG((*st)->st_mode) || ((*st)->st_mode & 0111) == 0) continue;
    auto host = root->host_path(*guest);
    if (host) return host->string();
  }
  return std::nullopt;
}

}  // namespace guestkit::core
