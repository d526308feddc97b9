#include "plugins/disk/label.hpp"

#include "core/encoding.hpp"

namespace guestkit::plugins::disk {
namespace {

constexpr std::size_t kNameMax = 255;


void escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // only lowercase is ever produced
}

}  // namespace

std::string mountpoint_name(std::string_view label) {
  std::string out;
  for (std::size_t i = 0; i < label.size();) {
    auto c = static_cast<unsigned char>(label[i]);
    std::size_t n = core::utf8_sequence_length(label, i);
    bool unsafe = n == 0 || (n == 1 && (c < 0x20 || c == 0x7f || c == '/' || c == '\\')) ||
                  (i == 0 && c == '.');
    if (unsafe) {
      escape(out, c);
      ++i;
    } else {
      out.append(label.substr(i, n));
      i += n;
    }
  }
  if (out.size() > kNameMax) return {};
  return out;
}

std::string label_of_mountpoint_name(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\' && i + 3 < name.size() && name[i + 1] == 'x' && hex(name[i + 2]) >= 0 &&
        hex(name[i + 3]) >= 0) {
      out += static_cast<char>(hex(name[i + 2]) * 16 + hex(name[i + 3]));
      i += 3;
    } else {
      out += name[i];
    }
  }
  return out;
}

}  // namespace guestkit::plugins::disk
