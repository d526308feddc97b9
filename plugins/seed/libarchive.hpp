#pragma once
// libarchive, opened when a seed medium is first read, not when a binary starts.
//
// Debian's libarchive13 needs libxml2, which needs ICU and the shared libstdc++: the
// dynamic loader spent 4.3 M of the 5.2 M instructions a `guestkit-boot --help` ran
// resolving their symbols (valgrind, this machine: 2.6 ms a start against 1.0 ms
// for guestkit-iface), about 25 ms of a TCG guest's single vCPU per start, in every
// boot stage of every boot (bench/README.md, seed-first-boot), for code that only
// 00-apply-seed, 01-setup-swap's seed check and guestkit-seed run. Those open it with
// dlopen on first use, as systemd opens its optional libraries; the packages depend
// on it by name (dpkg-shlibdeps and rpm's dependency generator cannot see a dlopen).
// It also keeps the shared libstdc++ that ICU brings out of every process that reads
// no seed (the binaries link their own copy statically: CMakeLists.txt).
//
// The functions keep their names: `la().archive_read_next_header(a, &e)`.

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "core/result.hpp"

namespace guestkit::plugins::seed::detail {

// Every libarchive function plugins/seed calls.
#define GUESTKIT_LIBARCHIVE_FUNCTIONS(X) \
  X(archive_read_new)                    \
  X(archive_read_free)                   \
  X(archive_read_support_format_tar)     \
  X(archive_read_support_format_iso9660) \
  X(archive_read_support_filter_gzip)    \
  X(archive_read_support_filter_xz)      \
  X(archive_read_set_read_callback)      \
  X(archive_read_set_skip_callback)      \
  X(archive_read_set_callback_data)      \
  X(archive_read_open1)                  \
  X(archive_read_open_memory)            \
  X(archive_read_next_header)            \
  X(archive_read_data)                   \
  X(archive_filter_bytes)                \
  X(archive_error_string)                \
  X(archive_entry_pathname)              \
  X(archive_entry_filetype)              \
  X(archive_entry_hardlink)              \
  X(archive_entry_sparse_count)          \
  X(archive_entry_size_is_set)           \
  X(archive_entry_size)

struct Libarchive {
#define GUESTKIT_LIBARCHIVE_MEMBER(fn) decltype(&::fn) fn = nullptr;
  GUESTKIT_LIBARCHIVE_FUNCTIONS(GUESTKIT_LIBARCHIVE_MEMBER)
#undef GUESTKIT_LIBARCHIVE_MEMBER
};

// The soname opened: libarchive 3.x has kept it since 3.0.
inline constexpr const char* kLibarchiveSoname = "libarchive.so.13";

// Opens `soname` and resolves every function (the tests' way to see the errors).
core::Result<Libarchive> open_libarchive(const char* soname);

// Opens kLibarchiveSoname once per process (thread-safe) and resolves every function. The
// error, kept for later calls, names the library and says why (dlerror).
core::Result<const Libarchive*> load_libarchive();

// The loaded library. Only for code that holds an archive made by new_reader() (so
// the load succeeded); called before any load succeeded, it aborts.
const Libarchive& la();

struct ArchiveFree {
  void operator()(struct archive* a) const;
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveFree>;

// archive_read_new(), the library loaded first.
core::Result<ArchivePtr> new_reader();

}  // namespace guestkit::plugins::seed::detail
