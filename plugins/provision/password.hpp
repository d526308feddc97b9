#pragma once
// Password hashing in-process with libxcrypt: the plaintext never leaves this process
// (no argv, no environment, no file), and every buffer that held it is wiped.

#include "core/log.hpp"
#include "core/result.hpp"

namespace guestkit::plugins::provision {

// yescrypt ("$y$") when libxcrypt offers it, else SHA-512 ("$6$"); a fresh salt from
// the OS RNG (crypt_gensalt with no random bytes given reads getrandom).
core::Result<core::Secret> hash_password(const core::Secret& plain);

// Whether `hash` verifies `plain` (tests; constant-time compare).
bool verify_password(const core::Secret& plain, const core::Secret& hash);

}  // namespace guestkit::plugins::provision
