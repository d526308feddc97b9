#pragma once
// The protocol of one session, whatever carries it: the greeting with a fresh
// challenge, then each complete line read as a request (sealed, or clear `info`) and
// answered. A transport (session.cpp: a connected socket; serial.cpp: a virtio-serial
// port or a serial line) feeds it lines and writes what it sends; the sealing, the
// replay protection (a nonce is accepted once per session) and the instance check
// are here, so they are the same on every transport.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/crypto.hpp"
#include "agent/ops.hpp"
#include "agent/protocol.hpp"
#include "core/result.hpp"

namespace guestkit::agent {

// {"ok":false,"error":{"code":CODE,"message":MESSAGE}}: the clear error lines.
std::string clear_error(const std::string& code, const std::string& message);

class Conversation {
 public:
  // Where the protocol's lines go (without their '\n').
  class Transport {
   public:
    virtual void send(std::string line) = 0;
    // The session's last line: the transport ends the session once it is written
    // (a socket is closed; a serial port waits for the next resync).
    virtual void finish_with(std::string line) = 0;

   protected:
    virtual ~Transport() = default;
  };

  // `key` is null when there is no usable key. `peer` names the peer in the log.
  Conversation(AgentState& state, const SecretBytes* key, std::string peer, Transport& transport);
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  // A fresh challenge and the greeting object that carries it (the transport may add
  // members before sending it).
  core::Result<nlohmann::json> greeting();
  // Whether sealed requests can be opened: a usable key and auth not switched off.
  bool keyed() const;
  // Derives this session's keys once (after the greeting is on the wire: libcrypto is
  // loaded here, agent/libcrypto.hpp); false (logged) when the crypto is unusable.
  bool derive_channel();

  // One complete line, valid UTF-8 (framing.hpp).
  void handle(const std::string& line);
  // A complete line that was not valid UTF-8.
  void bad_encoding();

  const std::string& peer() const { return peer_; }

 private:
  void handle_clear(nlohmann::json& request);
  void handle_sealed(const nlohmann::json& envelope);
  void respond(const nlohmann::json& request, const nlohmann::json& id, const std::string& op,
               const nlohmann::json& args, bool sealed);
  void seal_and_send(const nlohmann::json& answer);

  AgentState& state_;
  const SecretBytes* key_;
  std::string peer_;
  Transport& out_;
  Bytes challenge_;
  std::optional<Channel> channel_;
  std::string channel_problem_;
};

}  // namespace guestkit::agent
