// authorized_keys lines: a line guestkit accepts is written back (SshKey::line) as a
// line that parses to the same key; a key listed from a file is never read as another
// key on its own. The differential check against ssh-keygen runs on this target's
// findings (scripts/fuzz ssh_key: fuzz/ssh_keygen_diff).

#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/provision/authorized_keys.hpp"

namespace pv = guestkit::plugins::provision;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz_text(data, size);
  auto key = pv::parse_ssh_key(text);
  if (key) {
    auto again = pv::parse_ssh_key(key->line());
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->same_key(*key));
    FUZZ_CHECK(again->options == key->options);
  }
  // The lister shows what sshd would authorize; the parser is deliberately stricter
  // (control characters, certificates, ssh-dss...: ssh_keys.hpp), so a listed line may be
  // refused on its own, but never read as another key.
  for (const auto& k : pv::list_authorized_keys(text)) {
    auto one = pv::parse_ssh_key(k.line());
    if (one) FUZZ_CHECK(one->same_key(k));
  }
  return 0;
}
