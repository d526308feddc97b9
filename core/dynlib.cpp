#include "core/dynlib.hpp"

#include <dlfcn.h>

namespace guestkit::core {

Result<void*> open_library(const char* soname) {
  void* handle = ::dlopen(soname, RTLD_LAZY | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle) {
    const char* why = ::dlerror();
    return make_error(Errc::failed, why ? why : std::string("dlopen ") + soname + " failed");
  }
  return handle;
}

void* library_symbol(void* handle, const char* name) {
  return ::dlsym(handle, name);
}

}  // namespace guestkit::core
