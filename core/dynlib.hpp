#pragma once
// Libraries opened with dlopen() on first use instead of by the dynamic linker at start:
// libcrypto in the agent (agent/libcrypto.hpp) and libarchive in the seed readers
// (plugins/seed/libarchive.hpp), each header says why. Each keeps its functions in an
// X-macro table of pointers typed by decltype from the library's own headers, so a
// signature cannot drift; this opens the library and fills such a table.

#include <string>

#include "core/result.hpp"

namespace guestkit::core {

// dlopen(soname, RTLD_LAZY | RTLD_LOCAL | RTLD_NODELETE): none of its symbols added to
// the process's global scope, never unloaded (the pointers taken from it stay valid for
// the process's life). The error's text is dlerror()'s. Lazy: the functions guestkit
// calls are resolved by the caller's table (a missing one is an error naming it), and
// the libraries that are themselves linked BIND_NOW (Debian's libarchive, libcrypto,
// libxml2, ICU) are bound in full anyway; RTLD_NOW also bound every call of the shared
// libstdc++ that ICU pulls in: 6.5 against 4.8 million instructions for opening
// libarchive (callgrind, Debian 12), in each process that reads a seed.
Result<void*> open_library(const char* soname);

// The symbol `name` of `handle`, or nullptr.
void* library_symbol(void* handle, const char* name);

}  // namespace guestkit::core

// Sets `table.fn` from `handle`; a symbol not found is appended to the std::string
// `missing` ("a, b"). Used with a library's X-macro list of function names.
#define GUESTKIT_DYNLIB_RESOLVE(handle, table, missing, fn)                                    \
  (table).fn =                                                                                 \
      reinterpret_cast<decltype((table).fn)>(::guestkit::core::library_symbol((handle), #fn)); \
  if (!(table).fn) (missing) += std::string((missing).empty() ? "" : ", ") + #fn;
