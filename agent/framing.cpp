#include "agent/framing.hpp"

#include <string.h>

namespace guestkit::agent {

bool valid_utf8_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c >> 5) == 6) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c >> 4) == 14) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c >> 3) == 30) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

LineReader::Status LineReader::next(std::string& line) {
  const std::size_t nl = buffer_.find('\n', scanned_);
  if (nl == std::string::npos) {
    scanned_ = buffer_.size();
    return buffer_.size() > max_ ? Status::too_long : Status::need_more;
  }
  if (nl > max_) return Status::too_long;
  std::size_t end = nl;
  if (end > 0 && buffer_[end - 1] == '\r') --end;
  line.assign(buffer_, 0, end);
  ::explicit_bzero(buffer_.data(), nl + 1);
  buffer_.erase(0, nl + 1);
  scanned_ = 0;
  return valid_utf8_text(line) ? Status::line : Status::bad_encoding;
}

void LineReader::clear() {
  ::explicit_bzero(buffer_.data(), buffer_.size());
  buffer_.clear();
  scanned_ = 0;
}

}  // namespace guestkit::agent
