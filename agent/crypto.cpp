#include "agent/crypto.hpp"

#include <string.h>
#include <sys/random.h>

#include <cerrno>
#include <memory>

#include "agent/libcrypto.hpp"

namespace guestkit::agent {
namespace {

core::Error crypto_error(std::string what) {
  return core::make_error(core::Errc::failed, "crypto: " + std::move(what));
}

int as_int(std::size_t n) {
  return static_cast<int>(n);
}

// An EVP_CIPHER_CTX freed through the loaded library.
struct CipherCtx {
  const LibCrypto& lib;
  EVP_CIPHER_CTX* ctx;
  explicit CipherCtx(const LibCrypto& l) : lib(l), ctx(l.EVP_CIPHER_CTX_new()) {}
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
  ~CipherCtx() {
    if (ctx) lib.EVP_CIPHER_CTX_free(ctx);
  }
};

}  // namespace

void wipe(void* data, std::size_t size) noexcept {
  if (size) ::explicit_bzero(data, size);
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    wipe(bytes_.data(), bytes_.size());
    bytes_ = std::move(other.bytes_);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  wipe(bytes_.data(), bytes_.size());
}

core::Result<Bytes> random_bytes(std::size_t size) {
  Bytes out(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::getrandom(out.data() + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::errno_error("getrandom");
    }
    done += static_cast<std::size_t>(n);
  }
  return out;
}

core::Result<SecretBytes> hkdf_sha256(const Bytes& ikm, const Bytes& salt, std::string_view info,
                                      std::size_t length) {
  auto loaded = libcrypto();
  if (!loaded) return std::move(loaded).error();
  const LibCrypto& lib = **loaded;
  std::unique_ptr<EVP_KDF_CTX, decltype(lib.EVP_KDF_CTX_free)> ctx(lib.EVP_KDF_CTX_new(lib.hkdf),
                                                                   lib.EVP_KDF_CTX_free);
  if (!ctx) return crypto_error("HKDF setup");
  // OSSL_PARAM takes non-const pointers; OpenSSL only reads these.
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = lib.OSSL_PARAM_construct_utf8_string("digest", digest, 0);
  params[n++] = lib.OSSL_PARAM_construct_octet_string("key", const_cast<unsigned char*>(ikm.data()),
                                                      ikm.size());
  // An empty salt means HashLen zero bytes (RFC 5869 2.2); OpenSSL does that itself
  // when no salt is set.
  if (!salt.empty())
    params[n++] = lib.OSSL_PARAM_construct_octet_string(
        "salt", const_cast<unsigned char*>(salt.data()), salt.size());
  if (!info.empty())
    params[n++] =
        lib.OSSL_PARAM_construct_octet_string("info", const_cast<char*>(info.data()), info.size());
  params[n] = lib.OSSL_PARAM_construct_end();
  Bytes out(length);
  if (lib.EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    wipe(out.data(), out.size());
    return crypto_error("HKDF derive");
  }
  return SecretBytes(std::move(out));
}

core::Result<Bytes> aes_gcm_seal(const SecretBytes& key, const Bytes& nonce,
                                 std::string_view plaintext, const Bytes& aad) {
  if (key.bytes().size() != kKeySize || nonce.size() != kNonceSize)
    return crypto_error("AES-GCM: bad key or nonce size");
  auto loaded = libcrypto();
  if (!loaded) return std::move(loaded).error();
  const LibCrypto& lib = **loaded;
  CipherCtx c(lib);
  Bytes out(plaintext.size() + kTagSize);
  int n = 0;
  int total = 0;
  if (!c.ctx || lib.EVP_EncryptInit_ex(c.ctx, lib.aes_256_gcm, nullptr, nullptr, nullptr) != 1 ||
      lib.EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, as_int(kNonceSize), nullptr) != 1 ||
      lib.EVP_EncryptInit_ex(c.ctx, nullptr, nullptr, key.bytes().data(), nonce.data()) != 1)
    return crypto_error("AES-GCM seal setup");
  if (!aad.empty() &&
      lib.EVP_EncryptUpdate(c.ctx, nullptr, &n, aad.data(), as_int(aad.size())) != 1)
    return crypto_error("AES-GCM aad");
  if (!plaintext.empty()) {
    if (lib.EVP_EncryptUpdate(c.ctx, out.data(), &n,
                              reinterpret_cast<const unsigned char*>(plaintext.data()),
                              as_int(plaintext.size())) != 1)
      return crypto_error("AES-GCM encrypt");
    total = n;
  }
  if (lib.EVP_EncryptFinal_ex(c.ctx, out.data() + total, &n) != 1)
    return crypto_error("AES-GCM final");
  total += n;
  if (lib.EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_GET_TAG, as_int(kTagSize), out.data() + total) !=
      1)
    return crypto_error("AES-GCM tag");
  out.resize(static_cast<std::size_t>(total) + kTagSize);
  return out;
}

core::Result<SecretBytes> aes_gcm_open(const SecretBytes& key, const Bytes& nonce,
                                       const Bytes& sealed, const Bytes& aad) {
  if (key.bytes().size() != kKeySize || nonce.size() != kNonceSize)
    return crypto_error("AES-GCM: bad key or nonce size");
  if (sealed.size() < kTagSize)
    return core::make_error(core::Errc::bad_input, "box shorter than its tag");
  const std::size_t length = sealed.size() - kTagSize;
  auto loaded = libcrypto();
  if (!loaded) return std::move(loaded).error();
  const LibCrypto& lib = **loaded;
  CipherCtx c(lib);
  Bytes plain(length);
  int n = 0;
  int total = 0;
  if (!c.ctx || lib.EVP_DecryptInit_ex(c.ctx, lib.aes_256_gcm, nullptr, nullptr, nullptr) != 1 ||
      lib.EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_IVLEN, as_int(kNonceSize), nullptr) != 1 ||
      lib.EVP_DecryptInit_ex(c.ctx, nullptr, nullptr, key.bytes().data(), nonce.data()) != 1)
    return crypto_error("AES-GCM open setup");
  SecretBytes guard(std::move(plain));  // wiped even when the tag does not verify
  Bytes& buf = guard.mutable_bytes();
  if (!aad.empty() &&
      lib.EVP_DecryptUpdate(c.ctx, nullptr, &n, aad.data(), as_int(aad.size())) != 1)
    return crypto_error("AES-GCM aad");
  if (length > 0) {
    if (lib.EVP_DecryptUpdate(c.ctx, buf.data(), &n, sealed.data(), as_int(length)) != 1)
      return crypto_error("AES-GCM decrypt");
    total = n;
  }
  Bytes tag(sealed.end() - static_cast<std::ptrdiff_t>(kTagSize), sealed.end());
  if (lib.EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_GCM_SET_TAG, as_int(kTagSize), tag.data()) != 1)
    return crypto_error("AES-GCM set tag");
  if (lib.EVP_DecryptFinal_ex(c.ctx, buf.data() + total, &n) != 1)
    return core::make_error(core::Errc::bad_input, "box does not authenticate");
  return guard;
}

}  // namespace guestkit::agent
