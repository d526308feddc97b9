#include "tests/support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

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

}  // namespace guestkit::test
