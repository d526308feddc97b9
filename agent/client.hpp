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

// tcp:HOST:PORT (HOST an IPv4/IPv6 address or a name), unix:PATH, vsock:CID:PORT.
core::Result<core::UniqueFd> connect_to(const std::string& spec, std::chrono::milliseconds timeout);

class Client {
 public:
  // Connects and reads the greeting. Without a key, requests go in clear.
  static core::Result<Client> open(const std::string& spec, const SecretBytes* key,
                                   std::chrono::milliseconds timeout);

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
  Client(core::UniqueFd fd, std::chrono::milliseconds timeout)
      : fd_(std::move(fd)), timeout_(timeout) {}
  core::UniqueFd fd_;
  std::chrono::milliseconds timeout_;
  std::string pending_;
  nlohmann::json greeting_;
  std::optional<Channel> channel_;
  long next_id_ = 1;
};

}  // namespace guestkit::agent
