#pragma once
// The agent's cryptography: OpenSSL EVP's HKDF-SHA256 (RFC 5869) for the
// per-connection keys and AES-256-GCM for sealing (libcrypto loaded on first use:
// agent/libcrypto.hpp says why), the OS RNG for challenges. Key material lives in
// SecretBytes, which wipes itself (explicit_bzero, which the compiler cannot drop).

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/encoding.hpp"
#include "core/result.hpp"

namespace guestkit::agent {

using core::Bytes;

// A byte buffer wiped on destruction and on reassignment.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(Bytes bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {}
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  const Bytes& bytes() const noexcept { return bytes_; }
  Bytes& mutable_bytes() noexcept { return bytes_; }
  bool empty() const noexcept { return bytes_.empty(); }

 private:
  Bytes bytes_;
};

inline constexpr std::size_t kKeySize = 32;    // AES-256
inline constexpr std::size_t kNonceSize = 12;  // GCM's 96-bit IV
inline constexpr std::size_t kTagSize = 16;

// `size` bytes from the kernel RNG (getrandom(2)), or an error (never weak bytes).
core::Result<Bytes> random_bytes(std::size_t size);

// HKDF-SHA256(ikm, salt, info) -> `length` bytes (RFC 5869).
core::Result<SecretBytes> hkdf_sha256(const Bytes& ikm, const Bytes& salt, std::string_view info,
                                      std::size_t length);

// AES-256-GCM. seal returns ciphertext || 16-byte tag; open checks the tag and
// returns the plaintext, or Errc::bad_input when it does not authenticate.
core::Result<Bytes> aes_gcm_seal(const SecretBytes& key, const Bytes& nonce,
                                 std::string_view plaintext, const Bytes& aad = {});
core::Result<SecretBytes> aes_gcm_open(const SecretBytes& key, const Bytes& nonce,
                                       const Bytes& sealed, const Bytes& aad = {});

// Zeroes `size` bytes at `data` (explicit_bzero).
void wipe(void* data, std::size_t size) noexcept;

}  // namespace guestkit::agent
