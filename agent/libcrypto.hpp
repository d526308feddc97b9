#pragma once
// libcrypto, loaded when it is first needed rather than by the dynamic linker at start.
//
// Why: the agent is spawned per connection, and the platform waits for its greeting.
// Linked normally, the shared libcrypto costs every spawn its loading and relocation
// (it is built with BIND_NOW: ~3,500 symbol lookups) and OpenSSL's provider set-up,
// about 8 of the 9.5 million instructions from exec to greeting (bench/README.md,
// agent-greeting). The greeting needs none of it: its challenge comes from getrandom(2).
// So the agent sends the greeting first and loads libcrypto with dlopen() afterwards,
// while the peer derives its own keys and seals its first request; a clear `info`
// never loads it at all. It stays the system's shared libcrypto, so OpenSSL's security
// updates reach the agent without a rebuild (which is why static linking was refused).
//
// The function pointer types come from OpenSSL's own headers (decltype), so a
// signature cannot drift; the soname from the headers' OPENSSL_SHLIB_VERSION. The
// packages depend on the library explicitly, since dpkg-shlibdeps/rpm cannot see a
// dlopen().

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "core/result.hpp"

namespace guestkit::agent {

// Every libcrypto function guestkit calls.
#define GUESTKIT_LIBCRYPTO_FUNCTIONS(X) \
  X(OPENSSL_init_crypto)                \
  X(EVP_KDF_fetch)                      \
  X(EVP_KDF_free)                       \
  X(EVP_KDF_CTX_new)                    \
  X(EVP_KDF_CTX_free)                   \
  X(EVP_KDF_derive)                     \
  X(OSSL_PARAM_construct_utf8_string)   \
  X(OSSL_PARAM_construct_octet_string)  \
  X(OSSL_PARAM_construct_end)           \
  X(EVP_CIPHER_fetch)                   \
  X(EVP_CIPHER_free)                    \
  X(EVP_CIPHER_CTX_new)                 \
  X(EVP_CIPHER_CTX_free)                \
  X(EVP_CIPHER_CTX_ctrl)                \
  X(EVP_EncryptInit_ex)                 \
  X(EVP_EncryptUpdate)                  \
  X(EVP_EncryptFinal_ex)                \
  X(EVP_DecryptInit_ex)                 \
  X(EVP_DecryptUpdate)                  \
  X(EVP_DecryptFinal_ex)

struct LibCrypto {
#define GUESTKIT_LIBCRYPTO_POINTER(name) decltype(&::name) name = nullptr;
  GUESTKIT_LIBCRYPTO_FUNCTIONS(GUESTKIT_LIBCRYPTO_POINTER)
#undef GUESTKIT_LIBCRYPTO_POINTER
  // Fetched once per process (each fetch walks OpenSSL's provider tables).
  EVP_KDF* hkdf = nullptr;
  EVP_CIPHER* aes_256_gcm = nullptr;
};

// libcrypto, loaded and initialised on the first call (thread-safe; later calls are a
// load of a pointer). The error names the library and what was missing.
core::Result<const LibCrypto*> libcrypto();

}  // namespace guestkit::agent
