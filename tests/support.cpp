#include "tests/support.hpp"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "core/exec.hpp"
#include "core/paths.hpp"

namespace guestkit::test {

namespace {

std::filesystem::path default_base() {
  const char* base = std::getenv("TMPDIR");
  return base && *base ? base : guestkit::core::paths::kTmpDir;
}

}  // namespace

TempDir::TempDir() : TempDir(default_base()) {}

TempDir::TempDir(const std::filesystem::path& base) {
  std::string pattern = (base / "guestkit-test.XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

std::filesystem::path trusted_temp_base() {
  const auto base = std::filesystem::path(GUESTKIT_BINARY_DIR) / "tmp";
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  ::chmod(base.c_str(), 0755);
  for (auto p = std::filesystem::canonical(base, ec);; p = p.parent_path()) {
    struct stat st {};
    if (ec || ::stat(p.c_str(), &st) != 0 || (st.st_uid != 0 && st.st_uid != ::geteuid()) ||
        (st.st_mode & 022) != 0)
      skip("hooks need a directory whose parents are all root's and not group/other writable; " +
           p.string() + " is not (guestkit would refuse to run them)");
    if (p == p.root_path()) break;
  }
  return base;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Tests may leave read-only dirs behind; make them writable before removing.
  for (auto it = std::filesystem::recursive_directory_iterator(
           path_, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec))
      std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
  }
  std::filesystem::remove_all(path_, ec);
}

core::Root TempDir::root() const {
  auto root = core::Root::open(path_);
  if (!root) throw std::runtime_error(root.error().message());
  return std::move(root).value();
}

std::filesystem::path TempDir::write(std::string_view relative, std::string_view content,
                                     mode_t mode) const {
  auto file = path_ / std::filesystem::path(relative);
  std::filesystem::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  std::filesystem::permissions(file, static_cast<std::filesystem::perms>(mode));
  return file;
}

std::string TempDir::read(std::string_view relative) const {
  std::ifstream in(path_ / std::filesystem::path(relative), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + std::string(relative));
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

namespace {
bool g_skip_requested = false;
}  // namespace

void skip(std::string_view reason) {
  std::cout << "SKIPPED: " << reason << std::endl;
  std::cerr << "SKIPPED: " << reason << std::endl;
  g_skip_requested = true;
  throw Skipped{std::string(reason)};
}

bool skip_requested() { return g_skip_requested; }

bool running_as_root() { return ::geteuid() == 0; }

std::filesystem::path built_binary(std::string_view subdir, std::string_view name) {
  return std::filesystem::path(GUESTKIT_BINARY_DIR) / subdir / name;
}

std::string ssh_keygen_fingerprint(const TempDir& dir, std::string_view line) {
  const auto path = dir.write("line", std::string(line) + "\n", 0600);
  auto r = core::run({"ssh-keygen", "-l", "-E", "sha256", "-f", path.string()});
  if (!r) throw std::runtime_error("ssh-keygen: " + r.error().message());
  if (!r->success()) return {};
  const auto start = r->out.find("SHA256:");
  if (start == std::string::npos)
    throw std::runtime_error("ssh-keygen printed no SHA256: " + r->out);
  return r->out.substr(start, r->out.find(' ', start) - start);
}

std::optional<std::string> UnitFile::get(std::string_view section, std::string_view key) const {
  std::optional<std::string> value;
  for (const auto& s : settings)
    if (s.section == section && s.key == key) value = s.value;
  return value;
}

std::vector<std::string> UnitFile::sections() const {
  std::vector<std::string> out;
  for (const auto& s : settings)
    if (std::find(out.begin(), out.end(), s.section) == out.end()) out.push_back(s.section);
  return out;
}

UnitFile parse_unit_file(std::string_view text) {
  UnitFile file;
  const auto trim = [](std::string_view v) {
    const auto first = v.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::string();
    return std::string(v.substr(first, v.find_last_not_of(" \t") - first + 1));
  };
  std::string section;
  std::size_t number = 0;
  std::string pending;  // a line continued by a trailing backslash
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (pending.empty() && (line.empty() || line[0] == '#' || line[0] == ';')) continue;
    if (!line.empty() && line.back() == '\\') {
      line.back() = ' ';
      pending += line;
      if (!text.empty()) continue;
      line.clear();
    }
    line = pending + line;
    pending.clear();
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find('=');
    if (section.empty() || eq == std::string::npos || trim(line.substr(0, eq)).empty()) {
      if (file.error.empty()) file.error = "line " + std::to_string(number) + ": " + line;
      continue;
    }
    file.settings.push_back({section, trim(line.substr(0, eq)), trim(line.substr(eq + 1))});
  }
  return file;
}

std::string ustar_header(const std::string& name, std::size_t size) {
  std::string h(512, '\0');
  h.replace(0, name.size(), name);
  h.replace(100, 7, "0000644");
  h.replace(108, 7, "0000000");
  h.replace(116, 7, "0000000");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%011zo", size);
  h.replace(124, 11, buf);
  h.replace(136, 11, "00000000000");
  h[156] = '0';
  h.replace(257, 6, std::string("ustar\0", 6));
  h.replace(263, 2, "00");
  h.replace(148, 8, "        ");
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(buf, sizeof buf, "%06o", sum);
  h.replace(148, 7, std::string(buf, 6) + '\0');
  return h;
}

pid_t fork_child() {
  const pid_t test = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != test) ::_exit(126);
  }
  return pid;
}

}  // namespace guestkit::test
