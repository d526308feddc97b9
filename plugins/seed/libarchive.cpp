// libarchive opened on first use (libarchive.hpp).

#include "plugins/seed/libarchive.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/dynlib.hpp"

static_assert(ARCHIVE_VERSION_NUMBER >= 3000000 && ARCHIVE_VERSION_NUMBER < 4000000,
              "kLibarchiveSoname is libarchive 3's");

namespace guestkit::plugins::seed::detail {

core::Result<Libarchive> open_libarchive(const char* soname) {
  auto handle = core::open_library(soname);
  if (!handle)
    return core::make_error(core::Errc::failed,
                            std::string("cannot load ") + soname +
                                ", which reads seed media: " + handle.error().message());
  Libarchive lib;
  std::string missing;
#define GUESTKIT_LIBARCHIVE_RESOLVE(fn) GUESTKIT_DYNLIB_RESOLVE(*handle, lib, missing, fn)
  GUESTKIT_LIBARCHIVE_FUNCTIONS(GUESTKIT_LIBARCHIVE_RESOLVE)
#undef GUESTKIT_LIBARCHIVE_RESOLVE
  if (!missing.empty())
    return core::make_error(core::Errc::failed,
                            std::string(soname) + " is no libarchive 3: it lacks " + missing);
  return lib;
}

namespace {

const core::Result<Libarchive>& loaded() {
  static const core::Result<Libarchive> result = open_libarchive(kLibarchiveSoname);
  return result;
}

}  // namespace

core::Result<const Libarchive*> load_libarchive() {
  const auto& l = loaded();
  if (!l) return l.error();
  return &*l;
}

const Libarchive& la() {
  const auto& l = loaded();
  if (!l) {
    // new_reader() returned this error to whoever would have made the archive.
    std::fprintf(stderr, "guestkit: libarchive called without a reader: %s\n",
                 l.error().message().c_str());
    std::abort();
  }
  return *l;
}

void ArchiveFree::operator()(struct archive* a) const {
  if (a) la().archive_read_free(a);
}

core::Result<ArchivePtr> new_reader() {
  auto lib = load_libarchive();
  if (!lib) return std::move(lib).error();
  ArchivePtr a((*lib)->archive_read_new());
  if (!a) return core::errno_error("archive_read_new", ENOMEM);
  return a;
}

}  // namespace guestkit::plugins::seed::detail
