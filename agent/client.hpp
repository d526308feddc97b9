#pragma once
// The platform's side of the protocol (guestkit-ctl, and the tests): connect, read
// the greeting, seal requests, open responses. Blocking I/O with one deadline per
// read; raw line access for tests that misbehave on purpose.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "agent/protocol.hpp"
#include "core/fd.hpp"

namespace guestkit::agent {

// tcp:HOST:PORT (HOST an IPv4/IPv6 address or a name), unix:PATH, vsock:CID:PORT;
// serial:PATH is the unix socket of the host side of a virtio-serial port (QEMU's
// `-chardev socket,path=PATH,server=on`), where sessions start with a resync.
core::Result<core::UniqueFd> connect_to(const std::string& spec, std::chrono::milliseconds timeout);

class Client {
 public:
  // Connects and reads the greeting. Without a key, requests go in clear.
  static core::Result<Client> open(const std::string& spec, const SecretBytes* key,
                                   std::chrono::milliseconds timeout);
  // The same on a stream already open (a socket, or a pty's master in tests). With
  // `serial`, the session starts with a resync (agent/resync.hpp): stale bytes are
  // skipped up to the greeting that carries this client's token; the resync is sent
  // again (with a new token) while no greeting comes, as an agent that was restarted
  // may have lost it.
  static core::Result<Client> over(core::UniqueFd fd, bool serial, const SecretBytes* key,
                                   std::chrono::milliseconds timeout);
  Client(Client&&) = default;
  Client& operator=(Client&&) = default;
  // A serial session is ended (0xFF \n, best effort) when the client goes.
  ~Client();

  const nlohmann::json& greeting() const { return greeting_; }
  // Sends one request and returns the response's plaintext object.
  core::Result<nlohmann::json> call(const std::string& op, const nlohmann::json& args);

  // Raw access (tests): a line exactly as given; the next line read; sealing.
  core::Status send_line(const std::string& line);
  core::Result<std::string> read_line();
  core::Result<std::string> seal_request(const nlohmann::json& request);
  core::Result<nlohmann::json> open_response(const std::string& line);
  std::string instance_id() const;

 private:
  Client(core::UniqueFd fd, std::chrono::milliseconds timeout);
  core::Result<std::string> resync();
  core::Status send_raw(std::string_view data);
  core::Result<std::size_t> receive(char* buf, std::size_t size);
  core::UniqueFd fd_;
  bool socket_ = true;  // send(2)/recv(2); write(2)/read(2) on anything else
  bool serial_ = false;
  std::chrono::milliseconds timeout_;
  std::string pending_;
  nlohmann::json greeting_;
  std::optional<Channel> channel_;
  long next_id_ = 1;
};

}  // namespace guestkit::agent
