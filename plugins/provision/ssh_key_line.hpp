#pragma once
// One authorized_keys line read exactly as sshd(8) reads it (OpenSSH 9.x), so that the
// key guestkit validates, lists or removes is the key sshd would use, never another key
// further along the same line. The rules, learned from OpenSSH's sources and checked
// against ssh-keygen(1) by tests/integration/ssh_keys_oracle_test.cpp:
//
// * leading blanks (space, tab) are skipped; an empty line or one starting with '#' is
//   skipped; a NUL ends the line (sshd reads C strings).
// * if the line starts with a readable key (a known type name, blanks, a base64 blob
//   that decodes to a key of that type), that is the key and there are no options.
// * otherwise the options run up to the first blank outside double quotes; `\"` is one
//   character that never opens or closes a quote (inside or outside quotes) and is the
//   ONLY escape: `\\` is two backslashes. An unterminated quote ends the line: no key.
//   After blanks, a readable key must follow, else the line holds no key.
// * the comment is the rest after the blob's trailing blanks.
// * sshd then parses the options (auth-options.c): flags and name="value" clauses
//   (names case-insensitive), comma separated; an unknown or malformed option makes
//   sshd refuse the whole line. `options_error` says why, as sshd would.
// * sshd reads the key with the type of the key offered to it: a certificate line
//   (*-cert-v01@openssh.com) is then a type mismatch for a plain key and authorizes
//   nothing as such; ssh-keygen -l still prints its key. `certificate` marks those.

#include <string>
#include <string_view>

namespace guestkit::plugins::provision {

struct KeyLine {
  enum class Kind {
    skip,     // empty, blank or a '#' comment
    key,      // sshd finds a key; it authorizes it unless options_error is set
    not_key,  // sshd finds no key and ignores the line; `error` says why
  };
  Kind kind = Kind::skip;
  std::string_view options;     // as written; "" when the line starts with the key
  std::string_view type;        // the type word ("ssh-ed25519", "rsa-sha2-512", a cert type)
  std::string_view blob;        // the base64 word
  std::string_view comment;     // the rest (may hold blanks)
  bool certificate = false;     // a *-cert-v01@openssh.com type
  bool cert_authority = false;  // the cert-authority option: trusts the key as a CA only
  // The public key, canonical (plain type, then its fields with leading zeros of
  // integers dropped): equal exactly when two lines name the same key, whatever type
  // alias (ssh-rsa, rsa-sha2-256), certificate wrapping or blob spelling they use.
  std::string identity;
  std::string error;          // not_key: why there is no key
  std::string options_error;  // key: why sshd refuses the options ("" when it takes them)
};

// `line` without its '\n'. The views point into `line`.
KeyLine read_key_line(std::string_view line);

// sshd's verdict on an options field (the text from the options' start to the end of
// the line): "" when accepted, else sshd's reason ("unknown key option", ...).
// `cert_authority`, when given, tells whether the cert-authority flag is among them.
std::string check_key_options(std::string_view options_and_rest, bool* cert_authority = nullptr);

}  // namespace guestkit::plugins::provision
