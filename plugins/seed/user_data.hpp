#pragma once
// User-data (NoCloud user-data and vendor-data, ConfigDrive user_data) split into
// the parts guestkit understands, as cloud-init reads it:
//
//   #cloud-config ...            one cloud-config part
//   #!interpreter ...            one script (a first-boot script, run once)
//   Content-Type: multipart/...  MIME (RFC 2045/2046), as cloud-init's
//                                make-mime and write-mime-multipart write it
//
// MIME is parsed strictly by a small parser (Debian has no C++ MIME library that
// is not a mail framework): headers with folded lines, Content-Type with quoted or
// token parameters, the boundary (1-70 characters) required, delimiter lines exact,
// the closing delimiter required; nested multipart up to kMaxMimeDepth, at most
// kMaxMimeParts parts. Part types: text/cloud-config, text/x-shellscript, and
// text/plain (or none) sniffed by its first line like cloud-init; transfer
// encodings 7bit, 8bit, binary and base64. Anything else (gzip, #include,
// boothooks, part handlers, jinja templates, quoted-printable) is an unsupported
// part, reported by name, never run.

#include <string>
#include <vector>

#include "core/result.hpp"

namespace guestkit::plugins::seed {

inline constexpr int kMaxMimeDepth = 4;
inline constexpr std::size_t kMaxMimeParts = 64;

struct UserDataPart {
  enum class Type { cloud_config, script, unsupported };
  Type type = Type::unsupported;
  std::string content;  // decoded
  std::string label;    // "MIME part 2 (text/x-shellscript)", "" for a whole-file part
  std::string why;      // Type::unsupported: what it is
};

// Errc::bad_input for malformed MIME (it names the problem, never the content).
core::Result<std::vector<UserDataPart>> split_user_data(const std::string& data);

}  // namespace guestkit::plugins::seed
