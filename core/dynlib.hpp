#pragma once
// Libraries opened with dlopen() on first use instead of by the dynamic linker at start:
// libcrypto in the agent (agent/libcrypto.hpp) and libarchive in the seed readers
// (plugins/seed/libarchive.hpp), each header says why. Each keeps its functions in an
// X-macro table of pointers typed by decltype from the library's own headers, so a
// signature cannot drift; this opens the library and fills such a table.

#include <string>

#include "core/result.hpp"

namespace guestkit::core {

// dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE): every symbol resolved now, none
// added to the process's global scope, never unloaded (the pointers taken from it stay
// valid for the process's life). The error's text is dlerror()'s.
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
