#pragma once
// Hex and base64 (RFC 4648, standard alphabet, padded), strict on input: the agent's
// wire format and SSH public keys both use them, and anything sloppy there is either
// a bug or an attack.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace guestkit::core {

using Bytes = std::vector<std::uint8_t>;

std::string hex_encode(const std::uint8_t* data, std::size_t size);
inline std::string hex_encode(const Bytes& bytes) {
  return hex_encode(bytes.data(), bytes.size());
}
// Lower or upper case, even length, nothing else.
std::optional<Bytes> hex_decode(std::string_view text);

std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const Bytes& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}
// Standard alphabet, length a multiple of 4, '=' only as final padding, and the unused
// bits of the last character zero (so one text means one byte string). No whitespace.
std::optional<Bytes> base64_decode(std::string_view text);

// UTF-8, strictly (RFC 3629): no overlong forms, no surrogates (U+D800..U+DFFF),
// nothing above U+10FFFF, no truncated sequence. The one validator: passwords,
// labels, seed file names, agent messages and log sanitising all use it.
// The length of the valid sequence starting at s[i] (1 for ASCII), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);
bool valid_utf8(std::string_view s);

// POSIX shell single-quoting ('it'\''s'): for the scripts guestkit writes (the motd
// script, a seed's runcmd), never to build a command line it runs.
std::string shell_quote(std::string_view s);

}  // namespace guestkit::core
