#include "agent/framing.hpp"

#include <string.h>

#include "core/encoding.hpp"

namespace guestkit::agent {

bool valid_utf8_text(std::string_view s) {
  return s.find('\0') == std::string_view::npos && core::valid_utf8(s);
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
