#include "agent/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/random.h>

#include <cerrno>
#include <memory>

namespace guestkit::agent {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

core::Error crypto_error(std::string what) {
  return core::make_error(core::Errc::failed, "crypto: " + std::move(what));
}

int as_int(std::size_t n) {
  return static_cast<int>(n);
}

}  // namespace

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_ = std::move(other.bytes_);
  }
  return *this;
}

SecretBytes::~SecretBytes() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
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
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), ikm.data(), as_int(ikm.size())) <= 0)
    return crypto_error("HKDF setup");
  // An empty salt means HashLen zero bytes (RFC 5869 2.2); OpenSSL does that itself
  // when no salt is set.
  if (!salt.empty() &&
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), salt.data(), as_int(salt.size())) <= 0)
    return crypto_error("HKDF salt");
  if (!info.empty() &&
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                  as_int(info.size())) <= 0)
    return crypto_error("HKDF info");
  Bytes out(length);
  std::size_t got = length;
  if (EVP_PKEY_derive(ctx.get(), out.data(), &got) <= 0 || got != length) {
    OPENSSL_cleanse(out.data(), out.size());
    return crypto_error("HKDF derive");
  }
  return SecretBytes(std::move(out));
}

core::Result<Bytes> aes_gcm_seal(const SecretBytes& key, const Bytes& nonce,
                                 std::string_view plaintext, const Bytes& aad) {
  if (key.bytes().size() != kKeySize || nonce.size() != kNonceSize)
    return crypto_error("AES-GCM: bad key or nonce size");
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes out(plaintext.size() + kTagSize);
  int n = 0;
  int total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, as_int(kNonceSize), nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes().data(), nonce.data()) != 1)
    return crypto_error("AES-GCM seal setup");
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, aad.data(), as_int(aad.size())) != 1)
    return crypto_error("AES-GCM aad");
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), out.data(), &n,
                          reinterpret_cast<const unsigned char*>(plaintext.data()),
                          as_int(plaintext.size())) != 1)
      return crypto_error("AES-GCM encrypt");
    total = n;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + total, &n) != 1)
    return crypto_error("AES-GCM final");
  total += n;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, as_int(kTagSize), out.data() + total) !=
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
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  Bytes plain(length);
  int n = 0;
  int total = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, as_int(kNonceSize), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.bytes().data(), nonce.data()) != 1)
    return crypto_error("AES-GCM open setup");
  SecretBytes guard(std::move(plain));  // wiped even when the tag does not verify
  Bytes& buf = guard.mutable_bytes();
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, aad.data(), as_int(aad.size())) != 1)
    return crypto_error("AES-GCM aad");
  if (length > 0) {
    if (EVP_DecryptUpdate(ctx.get(), buf.data(), &n, sealed.data(), as_int(length)) != 1)
      return crypto_error("AES-GCM decrypt");
    total = n;
  }
  Bytes tag(sealed.end() - static_cast<std::ptrdiff_t>(kTagSize), sealed.end());
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, as_int(kTagSize), tag.data()) != 1)
    return crypto_error("AES-GCM set tag");
  if (EVP_DecryptFinal_ex(ctx.get(), buf.data() + total, &n) != 1)
    return core::make_error(core::Errc::bad_input, "box does not authenticate");
  return guard;
}

bool equal_ct(const Bytes& a, const Bytes& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace guestkit::agent
