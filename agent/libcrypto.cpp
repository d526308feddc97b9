#include "agent/libcrypto.hpp"

#include <openssl/opensslv.h>

#include <string>

#include "core/dynlib.hpp"

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
  auto handle = core::open_library(kSoname);
  if (!handle) {
    out.problem = handle.error().message();
    return out;
  }
  LibCrypto& lib = out.lib;
  std::string missing;
#define GUESTKIT_LIBCRYPTO_RESOLVE(name) GUESTKIT_DYNLIB_RESOLVE(*handle, lib, missing, name)
  GUESTKIT_LIBCRYPTO_FUNCTIONS(GUESTKIT_LIBCRYPTO_RESOLVE)
#undef GUESTKIT_LIBCRYPTO_RESOLVE
  if (!missing.empty()) {
    out.problem = "no symbol " + missing;
    return out;
  }
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
