#pragma once
// The wire protocol's sealing (agent/PROTOCOL.md is the reference):
//
//   per connection: challenge = 32 random bytes from the agent (in its greeting)
//   request key  = HKDF-SHA256(ikm = agent key, salt = challenge, info = kRequestInfo, 32)
//   response key = HKDF-SHA256(ikm = agent key, salt = challenge, info = kResponseInfo, 32)
//   sealed line  = {"nonce": hex(12 bytes), "box": base64(AES-256-GCM(plaintext) || tag)}
//
// No associated data. A nonce is never accepted twice on one connection (either
// direction); the agent numbers its own nonces (4 zero bytes, then a 64-bit big-endian
// counter from 1), so they never repeat under one key.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <string_view>

#include "agent/crypto.hpp"

namespace guestkit::agent {

inline constexpr int kProtocolVersion = 1;
inline constexpr std::string_view kRequestInfo = "guestkit-agent v1 request";
inline constexpr std::string_view kResponseInfo = "guestkit-agent v1 response";
inline constexpr std::size_t kChallengeSize = 32;
inline constexpr std::uint16_t kDefaultPort = 7391;

// The agent key from a key file's text: 32..64 bytes as hex, surrounding whitespace
// ignored. Errc::bad_input otherwise.
core::Result<SecretBytes> parse_key_text(std::string_view text);

class Channel {
 public:
  enum class Role { agent, client };
  static core::Result<Channel> create(Role role, const SecretBytes& key, const Bytes& challenge);

  // A sealed line (no '\n') carrying `plaintext`.
  core::Result<std::string> seal(std::string_view plaintext);
  // The plaintext of a sealed envelope from the peer. Errc::bad_input with the reason
  // (for the log; the peer only ever hears "authentication failed").
  core::Result<SecretBytes> open(const nlohmann::json& envelope);

 private:
  Channel(Role role, SecretBytes send, SecretBytes receive)
      : role_(role), send_(std::move(send)), receive_(std::move(receive)) {}
  Role role_;
  SecretBytes send_;
  SecretBytes receive_;
  std::set<Bytes> seen_;
  std::uint64_t counter_ = 0;
};

// Whether a parsed line is a sealed envelope: an object with exactly "nonce" and "box".
bool is_envelope(const nlohmann::json& value);

// Sets every string in `value` to zeros before it is freed (parsed requests hold
// passwords).
void wipe_json(nlohmann::json& value);

}  // namespace guestkit::agent
