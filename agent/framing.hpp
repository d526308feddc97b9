#pragma once
// JSON Lines framing: bytes in, complete lines out. A line is at most `max` bytes
// (without its '\n'); anything longer is an error, detected as soon as that many
// bytes arrive without a newline, so a peer cannot make us buffer more. Lines must
// be valid UTF-8 without NUL; a trailing '\r' is dropped.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace guestkit::agent {

class LineReader {
 public:
  explicit LineReader(std::size_t max) : max_(max) {}

  enum class Status { line, need_more, too_long, bad_encoding };

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete line into `line`, or why there is none.
  Status next(std::string& line);
  std::size_t buffered() const noexcept { return buffer_.size(); }
  // Wipes what is buffered (it may hold a secret the peer sent in clear).
  void clear();
  ~LineReader() { clear(); }

 private:
  std::size_t max_;
  std::string buffer_;
  std::size_t scanned_ = 0;  // bytes of buffer_ known to hold no '\n'
};

// Valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF), no NUL.
bool valid_utf8_text(std::string_view text);

}  // namespace guestkit::agent
