#include "plugins/seed/dir_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fd.hpp"

namespace guestkit::plugins::seed {
namespace {

constexpr const char* kKnown[] = {"meta-data",
                                  "user-data",
                                  "vendor-data",
                                  "network-config",
                                  "guestkit/order.json",
                                  "guestkit/agent.key",
                                  "gandi/config",
                                  "gandi/init",
                                  "openstack/latest/meta_data.json",
                                  "openstack/latest/user_data",
                                  "openstack/latest/vendor_data.json",
                                  "openstack/latest/network_data.json"};
constexpr const char* kScriptDirs[] = {"guestkit/postboot"};

struct Reader {
  int dir;
  SeedFiles& seed;
  std::size_t total = 0;

  // Opens each component with O_NOFOLLOW below the seed directory.
  void read(const std::string& name) {
    std::string rest = name;
    core::UniqueFd at(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
    for (;;) {
      const auto slash = rest.find('/');
      if (slash == std::string::npos) break;
      core::UniqueFd next(::openat(at.get(), rest.substr(0, slash).c_str(),
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) return;  // absent (or a symlinked directory: refused below if it exists)
      at = std::move(next);
      rest = rest.substr(slash + 1);
    }
    core::UniqueFd fd(
        ::openat(at.get(), rest.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
      if (errno == ELOOP)
        seed.refused.push_back(name + ": a symlink, refused");
      else if (errno != ENOENT)
        seed.refused.push_back(name + ": cannot be opened");
      return;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      seed.refused.push_back(name + ": not a regular file, refused");
      return;
    }
    if (static_cast<std::size_t>(st.st_size) > kDirMemberLimit ||
        total + static_cast<std::size_t>(st.st_size) > kDirTotalLimit) {
      seed.refused.push_back(name + ": over the size cap, refused");
      return;
    }
    std::string data;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        seed.refused.push_back(name + ": read error");
        return;
      }
      if (n == 0) break;
      data.append(buf, static_cast<std::size_t>(n));
      if (data.size() > kDirMemberLimit) {  // it grew while we read
        seed.refused.push_back(name + ": over the size cap, refused");
        return;
      }
    }
    total += data.size();
    seed.files[name] = std::move(data);
  }

  void read_dir(const std::string& sub) {
    core::UniqueFd d(::openat(dir, sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) return;
    DIR* stream = ::fdopendir(d.release());
    if (!stream) return;
    while (const dirent* e = ::readdir(stream)) {
      const std::string leaf = e->d_name;
      if (leaf == "." || leaf == "..") continue;
      read(sub + "/" + leaf);
    }
    ::closedir(stream);
  }
};

bool exists_dir(int dir, const char* name) {
  struct stat st {};
  return ::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

core::Result<SeedFiles> read_seed_dir_simple(const std::string& dir) {
  core::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return core::errno_error("open the seed directory " + dir);
  SeedFiles seed;
  seed.origin = dir;
  if (exists_dir(fd.get(), "guestkit"))
    seed.kind = SourceKind::swap_guestkit;
  else if (exists_dir(fd.get(), "gandi"))
    seed.kind = SourceKind::swap_gandi;
  else if (exists_dir(fd.get(), "openstack"))
    seed.kind = SourceKind::configdrive;
  else
    seed.kind = SourceKind::nocloud;
  Reader reader{fd.get(), seed};
  for (const char* name : kKnown) reader.read(name);
  for (const char* sub : kScriptDirs) reader.read_dir(sub);
  if (seed.files.empty() && seed.refused.empty())
    return core::make_error(core::Errc::bad_input, dir +
                                                       ": no seed files (meta-data, user-data, "
                                                       "openstack/, guestkit/ or gandi/)");
  return seed;
}

}  // namespace guestkit::plugins::seed
