// Sealed-box opening: whatever envelope a peer sends, open() answers an error or the
// plaintext, never crashes; and what one side seals the other opens to the same bytes,
// exactly once (a replayed nonce is refused).

#include <nlohmann/json.hpp>
#include <string>

#include "agent/protocol.hpp"
#include "fuzz/fuzz.hpp"

using guestkit::agent::Bytes;
using guestkit::agent::Channel;
using guestkit::agent::SecretBytes;

namespace {
SecretBytes key() {
  Bytes k;
  for (int i = 0; i < 32; ++i) k.push_back(static_cast<std::uint8_t>(i * 7 + 1));
  return SecretBytes(std::move(k));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes challenge(guestkit::agent::kChallengeSize, 0x5a);
  auto agent = Channel::create(Channel::Role::agent, key(), challenge);
  auto client = Channel::create(Channel::Role::client, key(), challenge);
  FUZZ_CHECK(agent && client);
  const auto text = fuzz_text(data, size);
  // 1. The input as an envelope from the peer.
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_discarded() && guestkit::agent::is_envelope(json)) (void)agent->open(json);
  // 2. The input as a plaintext: sealed by the client, opened by the agent.
  auto sealed = client->seal(text);
  FUZZ_CHECK(sealed);
  auto envelope = nlohmann::json::parse(*sealed, nullptr, false);
  FUZZ_CHECK(!envelope.is_discarded() && guestkit::agent::is_envelope(envelope));
  auto opened = agent->open(envelope);
  FUZZ_CHECK(opened);
  const auto& plain = opened->bytes();
  FUZZ_CHECK(std::string_view(reinterpret_cast<const char*>(plain.data()), plain.size()) == text);
  FUZZ_CHECK(!agent->open(envelope));  // replay
  return 0;
}
