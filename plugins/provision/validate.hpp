#pragma once
// Validation of what a provisioning order names: user and group names, hostnames,
// instance ids, password hashes. Pure functions; each returns an error message
// (empty when valid) so the order parser can name the field that is wrong.

#include <string>
#include <string_view>

namespace guestkit::plugins::provision {

// ^[a-z_][a-z0-9_-]{0,31}$: what useradd accepts by default, minus '$' and dots, so a
// name is also a safe file name (/etc/sudoers.d/90-guestkit-NAME) and never an option.
std::string check_user_name(std::string_view name);
// Same rule for group names.
std::string check_group_name(std::string_view name);
// RFC 1123: labels of 1..63 letters, digits and '-', not starting or ending with '-',
// joined by dots, 253 characters at most. No trailing dot.
std::string check_hostname(std::string_view name);
// [A-Za-z0-9][A-Za-z0-9._-]{0,127}: it becomes a file name (the provisioned marker).
std::string check_instance_id(std::string_view id);
// A crypt(3) hash of a method we accept: yescrypt ($y$, $gy$), scrypt ($7$), bcrypt
// ($2b$, $2y$), SHA-512 ($6$), SHA-256 ($5$); checked by libxcrypt's crypt_checksalt.
// MD5, DES and disabled markers ("!", "*") are refused. Never includes the hash.
std::string check_password_hash(std::string_view hash);
// A plaintext password: 1..1024 bytes, valid UTF-8, no NUL or newline.
std::string check_password(std::string_view password);

}  // namespace guestkit::plugins::provision
