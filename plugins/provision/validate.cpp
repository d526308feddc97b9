#include "plugins/provision/validate.hpp"

#include <crypt.h>

#include <algorithm>

#include "core/encoding.hpp"

namespace guestkit::plugins::provision {
namespace {

bool lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool digit(char c) {
  return c >= '0' && c <= '9';
}
bool alnum(char c) {
  return lower(c) || digit(c) || (c >= 'A' && c <= 'Z');
}

std::string check_account_name(std::string_view name, std::string_view what) {
  if (name.empty()) return std::string(what) + " name is empty";
  if (name.size() > 32) return std::string(what) + " name is longer than 32 characters";
  if (!(lower(name[0]) || name[0] == '_'))
    return std::string(what) + " name must start with a lowercase letter or '_'";
  const bool ok = std::all_of(name.begin(), name.end(),
                              [](char c) { return lower(c) || digit(c) || c == '_' || c == '-'; });
  if (!ok) return std::string(what) + " name may only hold a-z, 0-9, '_' and '-'";
  return {};
}


}  // namespace

std::string check_user_name(std::string_view name) {
  return check_account_name(name, "user");
}
std::string check_group_name(std::string_view name) {
  return check_account_name(name, "group");
}

std::string check_hostname(std::string_view name) {
  if (name.empty()) return "hostname is empty";
  if (name.size() > 253) return "hostname is longer than 253 characters";
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    const std::string_view label = name.substr(start, dot - start);
    if (label.empty()) return "hostname has an empty label";
    if (label.size() > 63) return "hostname label is longer than 63 characters";
    if (label.front() == '-' || label.back() == '-')
      return "hostname label starts or ends with '-'";
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; }))
      return "hostname may only hold letters, digits, '-' and dots";
    if (dot == name.size()) break;
    start = dot + 1;
  }
  return {};
}

std::string check_instance_id(std::string_view id) {
  if (id.empty() || id.size() > 128 || !alnum(id[0]) ||
      !std::all_of(id.begin(), id.end(),
                   [](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; }))
    return "instance id must be 1..128 of A-Z a-z 0-9 . _ - (starting with a letter or digit)";
  return {};
}

std::string check_password_hash(std::string_view hash) {
  static constexpr std::string_view kPrefixes[] = {"$y$",  "$gy$", "$7$", "$2b$",
                                                   "$2y$", "$6$",  "$5$"};
  if (hash.size() > 512) return "password hash is too long";
  const bool known = std::any_of(std::begin(kPrefixes), std::end(kPrefixes),
                                 [&](std::string_view p) { return hash.starts_with(p); });
  if (!known) return "password hash must be yescrypt, scrypt, bcrypt, SHA-512 or SHA-256 crypt";
  // shadow(5) fields: no ':' or line breaks; crypt's alphabet has neither.
  const bool chars = std::all_of(hash.begin(), hash.end(), [](char c) {
    return alnum(c) || c == '$' || c == '.' || c == '/' || c == ',' || c == '=';
  });
  if (!chars) return "password hash holds characters no crypt(3) hash has";
  const std::string copy(hash);
  const int status = ::crypt_checksalt(copy.c_str());
  if (status != CRYPT_SALT_OK && status != CRYPT_SALT_METHOD_LEGACY)
    return "password hash is not a valid crypt(3) setting";
  return {};
}

std::string check_password(std::string_view password) {
  if (password.empty()) return "password is empty";
  if (password.size() > 1024) return "password is longer than 1024 bytes";
  if (password.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos)
    return "password holds a NUL or line break";
  if (!core::valid_utf8(password)) return "password is not valid UTF-8";
  return {};
}

}  // namespace guestkit::plugins::provision
