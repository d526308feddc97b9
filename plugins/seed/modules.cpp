// Kernel modules from a seed (modules.hpp): checked whole, then installed into a
// directory of guestkit's own under /lib/modules/<release>/, then depmod.

#include "plugins/seed/modules.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "core/exec.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/log.hpp"
#include "plugins/seed/archive.hpp"
#include "core/paths.hpp"
#include "plugins/seed/discover.hpp"
#include "plugins/seed/layout.hpp"
#include "plugins/seed/libarchive.hpp"

namespace guestkit::plugins::seed {
namespace {

using detail::ArchivePtr;
using detail::la;

constexpr std::string_view kFinal = "guestkit-seed";
constexpr std::string_view kModulesPrefix = "lib/modules/";

std::string error_text(struct archive* a, const char* fallback) {
  const char* msg = la().archive_error_string(a);
  return msg ? msg : fallback;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_module_file(std::string_view leaf) {
  for (std::string_view ext : {".ko", ".ko.xz", ".ko.gz", ".ko.zst"})
    if (leaf.size() > ext.size() && ends_with(leaf, ext)) return true;
  return false;
}

// What a member is: a directory to pass over, a module file to install at `path`
// (relative to /lib/modules/<release>/updates/guestkit-seed/), an index file to skip,
// or refused with `why`.
struct Member {
  enum { dir, file, skip, refuse } what = refuse;
  std::string path;
  std::string why;
};

Member classify(const std::string& name, bool is_dir, const std::string& release) {
  Member m;
  // The release directory itself and its parents, spelled either way.
  const std::string lib_release = std::string(kModulesPrefix) + release;
  if (name == "lib" || name == "lib/modules" || name == lib_release || name == release) {
    if (is_dir)
      m.what = Member::dir;
    else
      m.why = "not a directory";
    return m;
  }
  std::string rest;
  if (name.starts_with(lib_release + "/"))
    rest = name.substr(lib_release.size() + 1);
  else if (name.starts_with("lib/"))
    return m.why = "outside /lib/modules/" + release + "/ (another kernel release?)", m;
  else if (name.starts_with(release + "/"))
    rest = name.substr(release.size() + 1);
  else
    rest = name;
  if (is_dir) {
    m.what = Member::dir;  // created as the files need them
    return m;
  }
  if (rest.find('/') == std::string::npos && rest.starts_with("modules.")) {
    m.what = Member::skip;  // depmod's index files: remade by depmod
    return m;
  }
  if (!(rest.starts_with("kernel/") || rest.starts_with("extra/") || rest.starts_with("updates/")))
    return m.why = "not under kernel/, extra/ or updates/ of the release", m;
  if (!is_module_file(rest.substr(rest.rfind('/') + 1)))
    return m.why = "not a kernel module (.ko, .ko.xz, .ko.gz, .ko.zst)", m;
  m.what = Member::file;
  m.path = rest;
  return m;
}

core::Result<ArchivePtr> open_tarball(std::string_view data, const std::string& member) {
  auto reader = detail::new_reader();
  if (!reader) return std::move(reader).error();
  ArchivePtr a = std::move(*reader);
  la().archive_read_support_format_tar(a.get());
  // The filter the name says, built into libarchive: ARCHIVE_WARN would mean an
  // external program, which platform data never gets to run.
  const int rc = ends_with(member, ".tar.xz") ? la().archive_read_support_filter_xz(a.get())
                                              : la().archive_read_support_filter_gzip(a.get());
  if (rc != ARCHIVE_OK)
    return core::make_error(core::Errc::failed,
                            member + ": this libarchive has no built-in decompressor for it");
  if (la().archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK)
    return core::make_error(core::Errc::bad_input,
                            member + ": " + error_text(a.get(), "not a tarball"));
  return a;
}

// Pass 1: every member checked, nothing written. Returns the files to install
// (member name -> path under the seed's directory), or the refusals in `out`.
core::Result<std::map<std::string, std::string>> check_members(std::string_view tarball,
                                                               const std::string& member,
                                                               const std::string& release,
                                                               ModulesInstall& out) {
  auto a = open_tarball(tarball, member);
  if (!a) return std::move(a).error();
  std::map<std::string, std::string> files;
  std::set<std::string> targets;
  std::uint64_t total = 0;
  auto refuse = [&](std::string_view name, const std::string& why) {
    if (out.refused.size() < kMaxRefused)
      out.refused.push_back(core::sanitize_for_log(name) + ": " + why + ", refused");
  };
  struct archive_entry* e = nullptr;
  for (std::size_t count = 0;; ++count) {
    const int rc = la().archive_read_next_header(a->get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return core::make_error(core::Errc::bad_input,
                              member + ": " + error_text(a->get(), "unreadable"));
    if (count == kMaxModulesEntries) {
      refuse("...", "more than " + std::to_string(kMaxModulesEntries) + " entries");
      break;
    }
    // Everything the decompressor produced so far, skipped data included: a small
    // tarball that unpacks to gigabytes stops here.
    if (la().archive_filter_bytes(a->get(), 0) > static_cast<la_int64_t>(kMaxModulesUnpacked))
      return core::make_error(
          core::Errc::bad_input,
          member + ": unpacks to more than " + std::to_string(kMaxModulesUnpacked) + " bytes");
    const char* raw = la().archive_entry_pathname(e);
    if (!raw) {
      refuse("(unnamed)", "a name that cannot be read");
      continue;
    }
    const std::string name = detail::clean_name(raw);
    const mode_t type = la().archive_entry_filetype(e);
    if (type == AE_IFDIR && (name == "." || name.empty())) continue;
    if (const std::string why = detail::unsafe_name(name); !why.empty()) {
      refuse(raw, why);
      continue;
    }
    if (la().archive_entry_hardlink(e)) {
      refuse(name, "a hard link");
      continue;
    }
    if (type != AE_IFDIR && type != AE_IFREG) {
      refuse(name, detail::member_kind(type));
      continue;
    }
    const Member m = classify(name, type == AE_IFDIR, release);
    if (m.what == Member::refuse) {
      refuse(name, m.why);
      continue;
    }
    if (m.what == Member::dir) continue;
    if (m.what == Member::skip) {
      out.skipped.push_back(name);
      continue;
    }
    if (la().archive_entry_sparse_count(e) > 0) {
      refuse(name, "a sparse member");
      continue;
    }
    const la_int64_t size = la().archive_entry_size_is_set(e) ? la().archive_entry_size(e) : -1;
    if (size < 0 || static_cast<std::uint64_t>(size) > kMaxModuleFileBytes) {
      refuse(name, size < 0 ? std::string("a member of unknown size")
                            : std::to_string(size) + " bytes, over the cap of " +
                                  std::to_string(kMaxModuleFileBytes));
      continue;
    }
    total += static_cast<std::uint64_t>(size);
    if (total > kMaxModulesUnpacked) {
      refuse(name, "over the tarball's cap of " + std::to_string(kMaxModulesUnpacked) + " bytes");
      continue;
    }
    if (!targets.insert(m.path).second) {
      refuse(name, "a second member for " + m.path);
      continue;
    }
    files[name] = m.path;
  }
  return files;
}

// Removes `name` in `dirfd` and everything below it, never following a link (a
// link is removed as a name). Only ever used on guestkit's own directories.
core::Status remove_tree(int dirfd, const std::string& name) {
  core::UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};
    if (errno == ENOTDIR || errno == ELOOP) {
      if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT)
        return core::errno_error("unlink " + name);
      return {};
    }
    return core::errno_error("open " + name);
  }
  DIR* d = ::fdopendir(::dup(fd.get()));
  if (!d) return core::errno_error("opendir " + name);
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    const std::string n = ent->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : names)
    if (auto ok = remove_tree(fd.get(), n); !ok) return ok;
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return core::errno_error("rmdir " + name);
  return {};
}

// mkdir -p of `rel` below `dirfd`, never through a link; the last directory, opened.
core::Result<core::UniqueFd> make_dirs(int dirfd, const std::string& rel) {
  core::UniqueFd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!cur) return core::errno_error("dup");
  std::size_t start = 0;
  while (start < rel.size()) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    const std::string part = rel.substr(start, end - start);
    if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
      return core::errno_error("mkdir " + rel.substr(0, end));
    core::UniqueFd next(
        ::openat(cur.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return core::errno_error("open " + rel.substr(0, end));
    cur = std::move(next);
    start = end + 1;
  }
  return cur;
}

core::Status write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::errno_error("write " + what);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Pass 2: the checked files into `staging` (an empty directory of ours).
core::Status unpack(std::string_view tarball, const std::string& member,
                    const std::map<std::string, std::string>& files, int staging) {
  auto a = open_tarball(tarball, member);
  if (!a) return std::move(a).error();
  struct archive_entry* e = nullptr;
  std::array<char, 65536> chunk{};
  for (;;) {
    const int rc = la().archive_read_next_header(a->get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return core::make_error(core::Errc::bad_input,
                              member + ": " + error_text(a->get(), "unreadable"));
    const char* raw = la().archive_entry_pathname(e);
    if (!raw || la().archive_entry_filetype(e) != AE_IFREG) continue;
    const auto it = files.find(detail::clean_name(raw));
    if (it == files.end()) continue;
    const std::string& path = it->second;
    const auto slash = path.rfind('/');
    auto dir = make_dirs(staging, path.substr(0, slash));
    if (!dir) return std::move(dir).error();
    const std::string leaf = path.substr(slash + 1);
    core::UniqueFd fd(::openat(dir->get(), leaf.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return core::errno_error("create " + path);
    std::uint64_t written = 0;
    for (;;) {
      const la_ssize_t n = la().archive_read_data(a->get(), chunk.data(), chunk.size());
      if (n < 0)
        return core::make_error(core::Errc::bad_input,
                                member + ": " + error_text(a->get(), "unreadable"));
      if (n == 0) break;
      written += static_cast<std::uint64_t>(n);
      if (written > kMaxModuleFileBytes)
        return core::make_error(core::Errc::bad_input, path + ": more data than its header says");
      if (auto ok = write_all(fd.get(), {chunk.data(), static_cast<std::size_t>(n)}, path); !ok)
        return ok;
    }
    if (::fchown(fd.get(), 0, 0) != 0 && ::geteuid() == 0)
      return core::errno_error("chown " + path);
    if (::fsync(fd.get()) != 0) return core::errno_error("fsync " + path);
  }
  return {};
}

}  // namespace

std::string running_release() {
  struct utsname u {};
  if (::uname(&u) != 0) return {};
  return u.release;
}

std::string modules_release(std::string_view name) {
  for (std::string_view dir : {"guestkit/modules/", "gandi/modules/"}) {
    if (!name.starts_with(dir)) continue;
    std::string_view rest = name.substr(dir.size());
    for (std::string_view ext : {".tar.gz", ".tar.xz"})
      if (rest.size() > ext.size() && ends_with(rest, ext))
        return std::string(rest.substr(0, rest.size() - ext.size()));
  }
  return {};
}

ModulesInstall install_modules(const core::Context& ctx, const std::string& release,
                               const std::string& member, std::string_view tarball) {
  ModulesInstall out;
  const core::Root& root = ctx.root;
  const std::string release_dir = std::string(core::paths::kLibModulesDir) + "/" + release;
  const std::string target = release_dir + "/" + std::string(kSeedModulesSubdir);
  auto failed = [&](std::string state, std::string message) {
    out.state = std::move(state);
    out.message = std::move(message);
    return out;
  };
  auto files = check_members(tarball, member, release, out);
  if (!files) return failed("refused", files.error().message());
  if (!out.refused.empty())
    return failed("refused",
                  std::to_string(out.refused.size()) + " member(s) refused: nothing installed");
  if (files->empty()) return failed("refused", "no kernel module in it: nothing installed");
  for (const auto& [name, path] : *files)
    out.files.push_back(std::string(kSeedModulesSubdir) + "/" + path);
  if (ctx.dry_run) {
    ctx.would("install " + std::to_string(files->size()) + " kernel module(s) into " +
              root.display(target) + " and run depmod " + release);
    return failed("would install", "dry run");
  }
  // /lib/modules/<release> as the image has it (/lib may be a link to usr/lib, inside
  // the root); below it, only guestkit's own names, never followed.
  auto updates = root.mkdirs(release_dir + "/updates", 0755, core::Follow::in_root);
  if (!updates) return failed("failed", updates.error().message());
  core::UniqueFd up(::openat(updates->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!up)
    return failed("failed",
                  core::errno_error("open " + root.display(release_dir + "/updates")).message());
  const std::string final_name(kFinal), staging = core::staging_name(kFinal, "new");
  if (auto ok = remove_tree(up.get(), staging); !ok) return failed("failed", ok.error().message());
  if (::mkdirat(up.get(), staging.c_str(), 0755) != 0)
    return failed("failed", core::errno_error("mkdir " + staging).message());
  core::UniqueFd st(
      ::openat(up.get(), staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!st) return failed("failed", core::errno_error("open " + staging).message());
  if (auto ok = unpack(tarball, member, *files, st.get()); !ok) {
    (void)remove_tree(up.get(), staging);
    return failed("failed", ok.error().message());
  }
  // The new tree replaces the previous one (an earlier instance's) in one step.
  struct stat old {};
  const bool had = ::fstatat(up.get(), final_name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
  const int rc =
      had ? ::renameat2(up.get(), staging.c_str(), up.get(), final_name.c_str(), RENAME_EXCHANGE)
          : ::renameat(up.get(), staging.c_str(), up.get(), final_name.c_str());
  if (rc != 0) {
    auto err = core::errno_error("rename " + staging + " to " + final_name);
    (void)remove_tree(up.get(), staging);
    return failed("failed", err.message());
  }
  if (auto ok = remove_tree(up.get(), staging); !ok)
    core::log_debug("seed: modules: ", ok.error().message(), ", ignoring");
  ::fsync(up.get());

  std::vector<std::string> argv{"depmod", "-a"};
  if (!root.is_host()) argv.insert(argv.end(), {"-b", root.prefix().string()});
  argv.push_back(release);
  core::ToolOptions o;
  o.timeout = std::chrono::seconds(120);
  if (auto r = core::run_tool(argv, o); !r) return failed("failed", r.error().message());
  out.state = "installed";
  out.message = std::to_string(files->size()) + " module(s) in " + root.display(target) +
                ", depmod " + release + " done";
  return out;
}

}  // namespace guestkit::plugins::seed
