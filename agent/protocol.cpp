#include "agent/protocol.hpp"

#include <nlohmann/json.hpp>

namespace guestkit::agent {

core::Result<SecretBytes> parse_key_text(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  auto bytes = core::hex_decode(text);
  if (!bytes || bytes->size() < 32 || bytes->size() > 64) {
    if (bytes) wipe(bytes->data(), bytes->size());
    return core::make_error(core::Errc::bad_input, "the key must be 32 to 64 bytes written as hex");
  }
  return SecretBytes(std::move(*bytes));
}

core::Result<Channel> Channel::create(Role role, const SecretBytes& key, const Bytes& challenge) {
  auto request = hkdf_sha256(key.bytes(), challenge, kRequestInfo, kKeySize);
  if (!request) return std::move(request).error();
  auto response = hkdf_sha256(key.bytes(), challenge, kResponseInfo, kKeySize);
  if (!response) return std::move(response).error();
  if (role == Role::agent) return Channel(role, std::move(*response), std::move(*request));
  return Channel(role, std::move(*request), std::move(*response));
}

core::Result<std::string> Channel::seal(std::string_view plaintext) {
  Bytes nonce;
  if (role_ == Role::agent) {
    nonce.assign(kNonceSize, 0);
    const std::uint64_t n = ++counter_;
    for (int i = 0; i < 8; ++i)
      nonce[kNonceSize - 1 - static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  } else {
    auto random = random_bytes(kNonceSize);
    if (!random) return std::move(random).error();
    nonce = std::move(*random);
  }
  auto box = aes_gcm_seal(send_, nonce, plaintext);
  if (!box) return std::move(box).error();
  nlohmann::json envelope{{"nonce", core::hex_encode(nonce)}, {"box", core::base64_encode(*box)}};
  return envelope.dump();
}

bool is_envelope(const nlohmann::json& value) {
  return value.is_object() && value.size() == 2 && value.contains("nonce") && value.contains("box");
}

core::Result<SecretBytes> Channel::open(const nlohmann::json& envelope) {
  const auto bad = [](std::string why) {
    return core::make_error(core::Errc::bad_input, std::move(why));
  };
  if (!is_envelope(envelope) || !envelope["nonce"].is_string() || !envelope["box"].is_string())
    return bad("not a sealed envelope");
  auto nonce = core::hex_decode(envelope["nonce"].get<std::string>());
  if (!nonce || nonce->size() != kNonceSize) return bad("nonce is not 12 bytes of hex");
  if (seen_.count(*nonce)) return bad("nonce reused on this connection");
  auto box = core::base64_decode(envelope["box"].get<std::string>());
  if (!box) return bad("box is not valid base64");
  auto plain = aes_gcm_open(receive_, *nonce, *box);
  if (!plain) return std::move(plain).error();
  seen_.insert(*nonce);
  return plain;
}

void wipe_json(nlohmann::json& value) {
  if (value.is_string()) {
    auto& s = value.get_ref<std::string&>();
    wipe(s.data(), s.size());
  } else if (value.is_structured()) {
    for (auto& item : value) wipe_json(item);
  }
}

}  // namespace guestkit::agent
