#pragma once
// Helpers for the boot stage plugin tests: temp roots built from the distribution
// fixtures (tests/fixtures/etc-*), a snapshot of a tree (content, link targets,
// modes and mtimes) to prove that a run changed nothing, and a one-plugin run
// through the real runner (so feature switches and --only apply as in production).

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "plugins/runner.hpp"
#include "tests/support.hpp"

namespace guestkit::test {

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures" / name;
}

// Copies a fixture directory (or file) to `relative` under the temp dir.
inline void install_fixture(const TempDir& t, const std::string& name,
                            const std::string& relative) {
  const auto to = t.path() / relative;
  std::filesystem::create_directories(to.parent_path());
  std::filesystem::copy(
      fixture(name), to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

// Every entry: type, content or link target, mode, mtime (ns).
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    struct stat st {};
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    std::ostringstream v;
    v << std::oct << (st.st_mode & 0177777) << std::dec << " mtime " << st.st_mtim.tv_sec << "."
      << st.st_mtim.tv_nsec << " ";
    if (S_ISLNK(st.st_mode)) {
      v << "-> " << std::filesystem::read_symlink(e.path()).string();
    } else if (S_ISREG(st.st_mode)) {
      std::ifstream in(e.path(), std::ios::binary);
      v << in.rdbuf();
    }
    out[std::filesystem::relative(e.path(), dir).string()] = v.str();
  }
  return out;
}

// Runs one plugin of `stage` through the runner (no run record, no lock); its record.
inline plugins::RunRecord run_one(core::Context& ctx, const std::string& stage,
                                  const std::string& name) {
  plugins::RunOptions o;
  o.record = false;
  o.only = {name};
  auto summary = plugins::run_plugins(ctx, stage, o);
  for (const auto& r : summary.records)
    if (r.name == name) return r;
  FAIL("plugin " << name << " is not in stage " << stage);
  return {};
}

}  // namespace guestkit::test
