#pragma once
// Sessions on a stream without connections (a virtio-serial port, a serial line):
// agent/PROTOCOL.md, "Serial transport". The byte 0xFF never occurs in the protocol's
// lines (they are strict UTF-8), so it marks where a session starts or ends, in both
// directions:
//
//   host -> agent   0xFF {"guestkit_sync":"TOKEN"} \n   end any session, start a new one
//                   0xFF \n                            end any session
//   agent -> host   0xFF GREETING-with-"sync":"TOKEN" \n
//
// The agent discards everything up to a 0xFF; the host discards everything up to the
// greeting that carries its own TOKEN (stale answers of a session it abandoned).

#include <cstddef>
#include <string>
#include <string_view>

namespace guestkit::agent {

inline constexpr char kResyncByte = '\xff';
// Longest sync line (after the 0xFF, without '\n'); anything longer is not one.
inline constexpr std::size_t kMaxSyncLine = 256;
inline constexpr std::size_t kMaxSyncToken = 64;

// 1..64 characters of [A-Za-z0-9_-].
bool valid_sync_token(std::string_view token);

// What the host sends: a session start with TOKEN (a valid token), or an end.
std::string resync_start(std::string_view token);
std::string resync_end();

struct SyncLine {
  enum class Kind { start, end, invalid };
  Kind kind = Kind::invalid;
  std::string token;  // start only
};
// The bytes between a 0xFF and the next '\n' (a '\r' before it dropped): empty is an
// end; {"guestkit_sync": TOKEN} exactly (one member, a valid token) is a start.
SyncLine parse_sync_line(std::string_view line);

}  // namespace guestkit::agent
