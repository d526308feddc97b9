#include "agent/libcrypto.hpp"

#include <dlfcn.h>
#include <openssl/opensslv.h>

#include <string>

static_assert(OPENSSL_VERSION_MAJOR >= 3, "guestkit needs OpenSSL 3 (EVP_KDF, EVP_CIPHER_fetch)");

namespace guestkit::agent {
namespace {

#define GUESTKIT_STRINGIFY_(x) #x
#define GUESTKIT_STRINGIFY(x) GUESTKIT_STRINGIFY_(x)
constexpr const char* kSoname = "libcrypto.so." GUESTKIT_STRINGIFY(OPENSSL_SHLIB_VERSION);

core::Error load_error(const std::string& what) {
  return core::make_error(core::Errc::failed, std::string("cannot use ") + kSoname + ": " + what);
}

struct Loaded {
  LibCrypto lib;
  std::string problem;  // empty when usable
};

Loaded load() {
  Loaded out;
  // RTLD_NODELETE: the pointers stay valid for the process's life; never closed.
  void* handle = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle) {
    const char* why = ::dlerror();
    out.problem = why ? why : "dlopen failed";
    return out;
  }
  LibCrypto& lib = out.lib;
#define GUESTKIT_LIBCRYPTO_RESOLVE(name)                                   \
  lib.name = reinterpret_cast<decltype(lib.name)>(::dlsym(handle, #name)); \
  if (!lib.name) {                                                         \
    out.problem = "no symbol " #name;                                      \
    return out;                                                            \
  }
  GUESTKIT_LIBCRYPTO_FUNCTIONS(GUESTKIT_LIBCRYPTO_RESOLVE)
#undef GUESTKIT_LIBCRYPTO_RESOLVE
  // The system's openssl.cnf is not ours to follow (and reading it costs every spawn);
  // nor is there anything to free at exit that the kernel does not.
  if (lib.OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, nullptr) != 1) {
    out.problem = "OPENSSL_init_crypto failed";
    return out;
  }
  lib.hkdf = lib.EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  lib.aes_256_gcm = lib.EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (!lib.hkdf || !lib.aes_256_gcm) out.problem = "no HKDF or AES-256-GCM in the default provider";
  return out;
}

}  // namespace

core::Result<const LibCrypto*> libcrypto() {
  static const Loaded loaded = load();
  if (!loaded.problem.empty()) return load_error(loaded.problem);
  return &loaded.lib;
}

}  // namespace guestkit::agent
