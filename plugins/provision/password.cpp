#include "plugins/provision/password.hpp"

#include <crypt.h>
#include <string.h>

#include <memory>

namespace guestkit::plugins::provision {
namespace {

// crypt_data is 32 KiB: on the heap, wiped before it is freed.
struct WipedCryptData {
  crypt_data data{};
  ~WipedCryptData() { ::explicit_bzero(&data, sizeof data); }
};

}  // namespace

core::Result<core::Secret> hash_password(const core::Secret& plain) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  const char* got = nullptr;
  for (const char* prefix : {"$y$", "$6$"}) {
    got = ::crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting);
    if (got && got[0] != '*') break;
    got = nullptr;
  }
  if (!got) return core::errno_error("crypt_gensalt: no yescrypt or SHA-512 support");
  auto work = std::make_unique<WipedCryptData>();
  const char* hashed = ::crypt_rn(plain.reveal().c_str(), setting, &work->data, sizeof work->data);
  if (!hashed || hashed[0] == '*') return core::errno_error("crypt: hashing the password failed");
  return core::Secret(std::string(hashed));
}

bool verify_password(const core::Secret& plain, const core::Secret& hash) {
  auto work = std::make_unique<WipedCryptData>();
  const char* hashed =
      ::crypt_rn(plain.reveal().c_str(), hash.reveal().c_str(), &work->data, sizeof work->data);
  if (!hashed || hashed[0] == '*') return false;
  const std::string& want = hash.reveal();
  const std::size_t n = ::strlen(hashed);
  if (n != want.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(hashed[i] ^ want[i]);
  return diff == 0;
}

}  // namespace guestkit::plugins::provision
