// sshd's authorized_keys option grammar (OpenSSH 9.x auth-options.c, learned from its
// source and man page): what it accepts, what it refuses and why, in its own words.

#include <netdb.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include <string>

#include "plugins/provision/ssh_key_line.hpp"

namespace guestkit::plugins::provision {
namespace {

bool iprefix(std::string_view s, std::size_t i, std::string_view word) {
  if (s.size() - i < word.size()) return false;
  for (std::size_t k = 0; k < word.size(); ++k)
    if (std::tolower(static_cast<unsigned char>(s[i + k])) !=
        std::tolower(static_cast<unsigned char>(word[k])))
      return false;
  return true;
}

// A flag: its name as a case-insensitive prefix (sshd's test; whatever follows must then
// be a comma or the end, else the option is unknown), `no-` first when it may be negated.
bool flag(std::string_view s, std::size_t& i, std::string_view name, bool negatable) {
  std::size_t j = i;
  if (negatable && iprefix(s, j, "no-")) j += 3;
  if (!iprefix(s, j, name)) return false;
  i = j + name.size();
  return true;
}

// NAME= (case-insensitive).
bool valued(std::string_view s, std::size_t& i, std::string_view name) {
  if (!iprefix(s, i, name) || i + name.size() >= s.size() || s[i + name.size()] != '=')
    return false;
  i += name.size() + 1;
  return true;
}

// "value": \" stands for ", nothing else is an escape.
std::optional<std::string> dequote(std::string_view s, std::size_t& i, std::string& error) {
  if (i >= s.size() || s[i] != '"') {
    error = "missing start quote";
    return std::nullopt;
  }
  std::string value;
  std::size_t j = i + 1;
  for (; j < s.size() && s[j] != '"'; ++j) {
    if (s[j] == '\\' && j + 1 < s.size() && s[j + 1] == '"') ++j;
    value += s[j];
  }
  if (j >= s.size()) {
    error = "missing end quote";
    return std::nullopt;
  }
  i = j + 1;
  return value;
}

// strtonum(3) as OpenSSH uses it: strtoll's syntax (leading blanks and a sign allowed),
// the whole string, within [lo, hi].
std::optional<long long> to_number(const std::string& s, long long lo, long long hi) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (end == s.c_str() || *end != '\0' || errno == ERANGE || v < lo || v > hi) return std::nullopt;
  return v;
}

bool valid_port(const std::string& s) {
  if (auto n = to_number(s, 0, 65535)) return *n > 0;
  // sshd also takes a TCP service name from the services database.
  const servent* se = ::getservbyname(s.c_str(), "tcp");
  return se != nullptr && ntohs(static_cast<uint16_t>(se->s_port)) > 0;
}

// permitopen="host:port" / permitlisten="[host:]port": host, then ':' or '/', then a
// port or "*"; a host in brackets may hold colons.
std::string check_permit(std::string value, bool bare_port_ok) {
  if (bare_port_ok && value.find(':') == std::string::npos) value = "*:" + value;
  std::size_t delim;
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    if (close == std::string::npos) return "invalid permission hostname";
    delim = close + 1;
    if (delim < value.size() && value[delim] != ':' && value[delim] != '/')
      return "invalid permission hostname";
  } else {
    delim = value.find_first_of(":/");
    if (delim == std::string::npos) delim = value.size();
  }
  if (delim >= 1025) return "invalid permission hostname";  // NI_MAXHOST
  if (delim >= value.size()) return "invalid permission port";
  const std::string port = value.substr(delim + 1);
  if (port != "*" && !valid_port(port)) return "invalid permission port";
  return {};
}

// expiry-time="YYYYMMDD[HHMM[SS]]" in local time, or UTC with a Z or UTC suffix.
bool valid_expiry(std::string value) {
  bool utc = false;
  if (value.size() > 1 && (value.back() == 'Z' || value.back() == 'z')) {
    utc = true;
    value.pop_back();
  } else if (value.size() > 3 && iprefix(value, value.size() - 3, "UTC")) {
    utc = true;
    value.resize(value.size() - 3);
  }
  std::string text, format;
  auto part = [&](std::size_t at, std::size_t n) { return value.substr(at, n); };
  switch (value.size()) {
    case 8:
      text = part(0, 4) + "-" + part(4, 2) + "-" + part(6, 2);
      format = "%Y-%m-%d";
      break;
    case 12:
      text =
          part(0, 4) + "-" + part(4, 2) + "-" + part(6, 2) + "T" + part(8, 2) + ":" + part(10, 2);
      format = "%Y-%m-%dT%H:%M";
      break;
    case 14:
      text = part(0, 4) + "-" + part(4, 2) + "-" + part(6, 2) + "T" + part(8, 2) + ":" +
             part(10, 2) + ":" + part(12, 2);
      format = "%Y-%m-%dT%H:%M:%S";
      break;
    default:
      return false;
  }
  struct tm tm {};
  const char* end = ::strptime(text.c_str(), format.c_str(), &tm);
  if (end == nullptr || *end != '\0') return false;
  const time_t t = utc ? ::timegm(&tm) : ::mktime(&tm);
  return t > 0;  // negative is an error, zero is refused as an expiry
}

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

}  // namespace

std::string check_key_options(std::string_view s, bool* cert_authority) {
  if (cert_authority) *cert_authority = false;
  std::set<std::string_view> once;
  std::set<std::string> env;
  std::size_t permitopen = 0, permitlisten = 0;
  std::size_t i = 0;
  std::string error;
  while (i < s.size() && s[i] != ' ' && s[i] != '\t') {
    if (flag(s, i, "cert-authority", false)) {
      if (cert_authority) *cert_authority = true;
    } else if (flag(s, i, "restrict", false) || flag(s, i, "port-forwarding", true) ||
               flag(s, i, "agent-forwarding", true) || flag(s, i, "x11-forwarding", true) ||
               flag(s, i, "touch-required", true) || flag(s, i, "verify-required", true) ||
               flag(s, i, "pty", true) || flag(s, i, "user-rc", true)) {
    } else if (const char* name = valued(s, i, "command")      ? "command"
                                  : valued(s, i, "principals") ? "principals"
                                  : valued(s, i, "from")       ? "from"
                                                               : nullptr) {
      // Each of these once only.
      if (!once.insert(name).second) return std::string("multiple \"") + name + "\" clauses";
      if (!dequote(s, i, error)) return error;
    } else if (valued(s, i, "expiry-time")) {
      auto v = dequote(s, i, error);
      if (!v) return error;
      if (!valid_expiry(*v)) return "invalid expires time";
    } else if (valued(s, i, "environment")) {
      if (env.size() > 1024) return "too many environment strings";
      auto v = dequote(s, i, error);
      if (!v) return error;
      const auto eq = v->find('=');
      if (eq == std::string::npos || !valid_env_name(std::string_view(*v).substr(0, eq)))
        return "invalid environment string";
      env.insert(v->substr(0, eq));  // the first value of a name wins
    } else if (const int listen = valued(s, i, "permitopen")     ? 0
                                  : valued(s, i, "permitlisten") ? 1
                                                                 : -1;
               listen >= 0) {
      std::size_t& count = listen ? permitlisten : permitopen;
      if (count > 4096) return "too many permission directives";
      auto v = dequote(s, i, error);
      if (!v) return error;
      if (auto bad = check_permit(*v, listen == 1); !bad.empty()) return bad;
      ++count;
    } else if (valued(s, i, "tunnel")) {
      auto v = dequote(s, i, error);
      if (!v) return error;
      if (!iprefix(*v, 0, "any") || v->size() != 3)
        if (!to_number(*v, 0, INT_MAX - 2)) return "invalid tun device";
    }
    // After an option (or nothing sshd recognised): the end, or a comma and more.
    if (i >= s.size() || s[i] == ' ' || s[i] == '\t') break;
    if (s[i] != ',') return "unknown key option";
    ++i;
    if (i >= s.size()) return "unexpected end-of-options";
  }
  return {};
}

}  // namespace guestkit::plugins::provision
