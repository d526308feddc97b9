#include "plugins/provision/user_details.hpp"

#include <vector>

#include "core/exec.hpp"
#include "core/files.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins::provision {
namespace {

core::Status run_shadow_tool(const core::Root& root, std::vector<std::string> head,
                             const std::string& name) {
  if (!root.is_host()) {
    head.push_back("--root");
    head.push_back(root.prefix().string());
  }
  head.push_back("--");
  head.push_back(name);
  const std::string tool = head.front();
  auto res = core::run(head);
  if (!res) return std::move(res).error();
  if (!res->success()) {
    std::string err = res->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return core::make_error(core::Errc::failed,
                            tool + " " + res->describe() + (err.empty() ? "" : ": " + err));
  }
  return {};
}

// Fields 5 (comment) and 7 (shell) of NAME's /etc/passwd line.
std::optional<std::pair<std::string, std::string>> passwd_fields(const core::Root& root,
                                                                 const std::string& name) {
  auto text = core::read_file(root, core::paths::kPasswd, 16u << 20);
  if (!text) return std::nullopt;
  for (const auto& line : core::split_lines(*text)) {
    std::vector<std::string> f;
    std::size_t start = 0;
    for (;;) {
      const auto at = line.find(':', start);
      f.push_back(line.substr(start, at == std::string::npos ? std::string::npos : at - start));
      if (at == std::string::npos) break;
      start = at + 1;
    }
    if (f.size() >= 7 && f[0] == name) return std::pair{f[4], f[6]};
  }
  return std::nullopt;
}

}  // namespace

core::Result<bool> set_user_details(const core::Root& root, const std::string& name,
                                    const std::optional<std::string>& shell,
                                    const std::optional<std::string>& gecos) {
  const auto current = passwd_fields(root, name);
  std::vector<std::string> argv{"usermod"};
  if (shell && (!current || current->second != *shell))
    argv.insert(argv.end(), {"--shell", *shell});
  if (gecos && (!current || current->first != *gecos))
    argv.insert(argv.end(), {"--comment", *gecos});
  if (argv.size() == 1) return false;
  if (auto ok = run_shadow_tool(root, argv, name); !ok) return std::move(ok).error();
  return true;
}

core::Status lock_password(const core::Root& root, const std::string& name) {
  return run_shadow_tool(root, {"usermod", "--lock"}, name);
}

core::Status expire_password(const core::Root& root, const std::string& name) {
  return run_shadow_tool(root, {"chage", "--lastday", "0"}, name);
}

}  // namespace guestkit::plugins::provision
