#include "plugins/provision/ssh_key_line.hpp"

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "core/encoding.hpp"

namespace guestkit::plugins::provision {
namespace {

// The key families sshd knows, and every name it reads as one of them at the start of a
// key (its table of key implementations: plain, certificate and signature-alias names).
enum class Family { ed25519, ed25519_sk, ecdsa, ecdsa_sk, rsa, dsa };

struct KeyType {
  std::string_view name;
  Family family;
  bool cert;
  std::string_view curve;      // ECDSA: the curve name the blob must carry
  std::string_view shortname;  // accepted case-insensitively as a blob's type (plain only)
};

constexpr KeyType kTypes[] = {
    {"ssh-ed25519", Family::ed25519, false, "", "ED25519"},
    {"ssh-ed25519-cert-v01@openssh.com", Family::ed25519, true, "", ""},
    {"sk-ssh-ed25519@openssh.com", Family::ed25519_sk, false, "", "ED25519-SK"},
    {"sk-ssh-ed25519-cert-v01@openssh.com", Family::ed25519_sk, true, "", ""},
    {"ecdsa-sha2-nistp256", Family::ecdsa, false, "nistp256", "ECDSA"},
    {"ecdsa-sha2-nistp256-cert-v01@openssh.com", Family::ecdsa, true, "nistp256", ""},
    {"ecdsa-sha2-nistp384", Family::ecdsa, false, "nistp384", "ECDSA"},
    {"ecdsa-sha2-nistp384-cert-v01@openssh.com", Family::ecdsa, true, "nistp384", ""},
    {"ecdsa-sha2-nistp521", Family::ecdsa, false, "nistp521", "ECDSA"},
    {"ecdsa-sha2-nistp521-cert-v01@openssh.com", Family::ecdsa, true, "nistp521", ""},
    {"sk-ecdsa-sha2-nistp256@openssh.com", Family::ecdsa_sk, false, "nistp256", "ECDSA-SK"},
    {"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", Family::ecdsa_sk, true, "nistp256", ""},
    {"webauthn-sk-ecdsa-sha2-nistp256@openssh.com", Family::ecdsa_sk, false, "nistp256",
     "ECDSA-SK"},
    {"ssh-dss", Family::dsa, false, "", "DSA"},
    {"ssh-dss-cert-v01@openssh.com", Family::dsa, true, "", ""},
    {"ssh-rsa", Family::rsa, false, "", "RSA"},
    {"ssh-rsa-cert-v01@openssh.com", Family::rsa, true, "", ""},
    {"rsa-sha2-256", Family::rsa, false, "", "RSA"},
    {"rsa-sha2-256-cert-v01@openssh.com", Family::rsa, true, "", ""},
    {"rsa-sha2-512", Family::rsa, false, "", "RSA"},
    {"rsa-sha2-512-cert-v01@openssh.com", Family::rsa, true, "", ""},
};

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// A type word at the start of a key: exact, case-sensitive names only.
const KeyType* type_of_word(std::string_view word) {
  for (const auto& t : kTypes)
    if (t.name == word) return &t;
  return nullptr;
}

// The type string inside a blob: an exact name, or a plain type's short name in any case.
const KeyType* type_of_blob_name(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name || (!t.cert && iequal(t.shortname, name))) return &t;
  return nullptr;
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  return s;
}
std::size_t word_end(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && !is_blank(s[i])) ++i;
  return i;
}

// Reads the SSH wire format of a key blob.
class Wire {
 public:
  explicit Wire(const core::Bytes& b) : b_(b) {}
  bool done() const { return pos_ == b_.size(); }
  // uint32 length + bytes.
  std::optional<std::string_view> string() {
    if (b_.size() - pos_ < 4) return std::nullopt;
    const std::size_t n = std::size_t{b_[pos_]} << 24 | std::size_t{b_[pos_ + 1]} << 16 |
                          std::size_t{b_[pos_ + 2]} << 8 | b_[pos_ + 3];
    if (n > b_.size() - pos_ - 4) return std::nullopt;
    std::string_view s(reinterpret_cast<const char*>(b_.data()) + pos_ + 4, n);
    pos_ += 4 + n;
    return s;
  }
  // A string without NUL, except one allowed as its last byte (which is dropped).
  std::optional<std::string_view> cstring() {
    auto s = string();
    if (!s) return std::nullopt;
    const auto z = s->find('\0');
    if (z != std::string_view::npos && z + 1 != s->size()) return std::nullopt;
    if (z != std::string_view::npos) s->remove_suffix(1);
    return s;
  }
  // An SSH mpint: not negative, at most 16384 bits (one leading zero allowed above),
  // returned without its leading zeros.
  std::optional<std::string_view> mpint() {
    auto s = string();
    if (!s) return std::nullopt;
    if (!s->empty() && (static_cast<unsigned char>(s->front()) & 0x80)) return std::nullopt;
    constexpr std::size_t kMax = 16384 / 8;
    if (s->size() > kMax + 1 || (s->size() == kMax + 1 && s->front() != 0)) return std::nullopt;
    while (!s->empty() && s->front() == 0) s->remove_prefix(1);
    return s;
  }

 private:
  const core::Bytes& b_;
  std::size_t pos_ = 0;
};

void put_field(std::string& out, std::string_view field) {
  const auto n = static_cast<std::uint32_t>(field.size());
  out += static_cast<char>(n >> 24);
  out += static_cast<char>(n >> 16);
  out += static_cast<char>(n >> 8);
  out += static_cast<char>(n);
  out += field;
}

std::size_t bits(std::string_view magnitude) {
  if (magnitude.empty()) return 0;
  unsigned top = static_cast<unsigned char>(magnitude.front());
  std::size_t n = (magnitude.size() - 1) * 8;
  while (top) {
    ++n;
    top >>= 1;
  }
  return n;
}

std::size_t point_size(std::string_view curve) {
  if (curve == "nistp256") return 65;
  if (curve == "nistp384") return 97;
  return 133;  // nistp521
}

// The canonical identity of a blob whose type sshd reads as `t`, or an error message.
// Like sshd: the blob's own type must be of the same family (and curve), every field
// well formed, nothing left over. Not checked here (no libcrypto in this library): that
// an ECDSA point lies on its curve and a certificate's signature; sshd ignores such lines.
std::string blob_identity(const core::Bytes& blob, const KeyType& t, std::string& error) {
  Wire w(blob);
  const auto name = w.cstring();
  const KeyType* bt = name ? type_of_blob_name(*name) : nullptr;
  if (!bt) {
    error = "key data names an unknown key type";
    return {};
  }
  // ECDSA blobs find their curve by the exact type name: a short name is no ECDSA key.
  const bool ecdsa = t.family == Family::ecdsa || t.family == Family::ecdsa_sk;
  if (bt->family != t.family || bt->cert != t.cert || bt->curve != t.curve ||
      (ecdsa && *name != bt->name)) {
    error = "key data does not match its type";
    return {};
  }
  if (t.cert && !w.string()) {  // the certificate's nonce
    error = "key data is malformed";
    return {};
  }
  std::string id;
  bool ok = true;
  switch (t.family) {
    case Family::ed25519:
    case Family::ed25519_sk: {
      put_field(id, t.family == Family::ed25519 ? "ssh-ed25519" : "sk-ssh-ed25519@openssh.com");
      const auto pk = w.string();
      ok = pk && pk->size() == 32;
      if (ok) put_field(id, *pk);
      break;
    }
    case Family::ecdsa:
    case Family::ecdsa_sk: {
      put_field(id, t.family == Family::ecdsa ? "ecdsa" : "sk-ecdsa");
      const auto curve = w.cstring();
      if (!curve || *curve != t.curve) {
        error = "key data names another curve than its type";
        return {};
      }
      const auto q = w.string();
      // sshd takes uncompressed points only (0x04, X, Y).
      ok = q && q->size() == point_size(t.curve) && q->front() == '\x04';
      if (ok) {
        put_field(id, *curve);
        put_field(id, *q);
      }
      break;
    }
    case Family::rsa: {
      put_field(id, "ssh-rsa");
      const auto e = w.mpint();
      const auto n = e ? w.mpint() : std::nullopt;
      ok = n.has_value();
      if (ok && (bits(*n) < 1024 || bits(*n) > 16384)) {
        error = "RSA key is shorter than 1024 bits or longer than 16384";
        return {};
      }
      if (ok) {
        put_field(id, *e);
        put_field(id, *n);
      }
      break;
    }
    case Family::dsa: {
      put_field(id, "ssh-dss");
      for (int i = 0; ok && i < 4; ++i) {
        const auto v = w.mpint();
        ok = v.has_value();
        if (ok) put_field(id, *v);
      }
      break;
    }
  }
  if (ok && (t.family == Family::ed25519_sk || t.family == Family::ecdsa_sk)) {
    const auto application = w.cstring();
    ok = application.has_value();
    if (ok) put_field(id, *application);
  }
  // A certificate's remaining fields (serial, principals, validity, signature...) are
  // sshd's to verify; an ordinary key ends here.
  if (ok && !t.cert && !w.done()) ok = false;
  if (!ok) {
    error = "key data is malformed";
    return {};
  }
  return id;
}

// sshd's key reader at the start of `s`: type word, blanks, base64 blob (blanks end it;
// other white space inside it is skipped by the decoder), blanks, comment.
bool read_key(std::string_view s, KeyLine& out, std::string& error) {
  const std::size_t type_end = word_end(s);
  const KeyType* t = type_of_word(s.substr(0, type_end));
  if (!t) {
    error = "unknown key type";
    return false;
  }
  if (type_end == s.size()) {
    error = "no key data after the type";
    return false;
  }
  std::string_view rest = skip_blanks(s.substr(type_end));
  if (rest.empty()) {
    error = "no key data after the type";
    return false;
  }
  const std::size_t blob_end = word_end(rest);
  const std::string_view word = rest.substr(0, blob_end);
  std::string compact;
  for (char c : word)
    if (c != '\n' && c != '\r' && c != '\v' && c != '\f') compact += c;
  const auto blob = core::base64_decode(compact);
  if (!blob || blob->empty()) {
    error = "key data is not valid base64";
    return false;
  }
  std::string identity = blob_identity(*blob, *t, error);
  if (identity.empty()) return false;
  out.kind = KeyLine::Kind::key;
  out.type = s.substr(0, type_end);
  out.blob = word;
  out.comment = skip_blanks(rest.substr(blob_end));
  out.certificate = t->cert;
  out.identity = std::move(identity);
  return true;
}

}  // namespace

KeyLine read_key_line(std::string_view line) {
  KeyLine out;
  if (const auto nul = line.find('\0'); nul != std::string_view::npos) line = line.substr(0, nul);
  std::string_view s = skip_blanks(line);
  if (s.empty() || s.front() == '#') return out;
  out.kind = KeyLine::Kind::not_key;
  std::string error;
  if (read_key(s, out, error)) return out;

  // Not a key at the start: options first, up to the first blank outside quotes.
  bool quoted = false;
  std::size_t i = 0;
  for (; i < s.size() && (quoted || !is_blank(s[i])); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '"')
      ++i;  // \" is one character and never a quote
    else if (s[i] == '"')
      quoted = !quoted;
  }
  if (quoted) {
    out.error = "unterminated quote in options";
    return out;
  }
  const std::string_view options = s.substr(0, i);
  if (!read_key(skip_blanks(s.substr(i)), out, out.error)) {
    // A bare type that failed to read says more than "unknown key type".
    if (type_of_word(s.substr(0, word_end(s)))) out.error = error;
    return out;
  }
  out.options = options;
  out.options_error = check_key_options(s, &out.cert_authority);
  return out;
}

}  // namespace guestkit::plugins::provision
