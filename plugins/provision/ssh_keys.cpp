#include "plugins/provision/ssh_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/encoding.hpp"
#include "core/files.hpp"

namespace guestkit::plugins::provision {
namespace {

constexpr std::string_view kKeyTypes[] = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
};
constexpr std::size_t kMaxLine = 16384;  // an RSA-16384 key line is about 2.8 KiB

bool known_type(std::string_view type) {
  return std::find(std::begin(kKeyTypes), std::end(kKeyTypes), type) != std::end(kKeyTypes);
}

core::Error bad(std::string message) {
  return core::make_error(core::Errc::bad_input, "SSH key: " + std::move(message));
}

// Length of the options field at the start of `s` (up to the first space outside
// quotes), or npos when a quote is left open.
std::size_t options_length(std::string_view s) {
  bool quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted && i + 1 < s.size()) {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if ((s[i] == ' ' || s[i] == '\t') && !quoted) {
      return i;
    }
  }
  return quoted ? std::string_view::npos : s.size();
}

// name or name="value", comma separated; names [A-Za-z0-9-].
bool valid_options(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-')) ++i;
    if (i == start) return false;
    if (i < s.size() && s[i] == '=') {
      if (++i >= s.size() || s[i] != '"') return false;
      ++i;
      while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
      if (i >= s.size()) return false;
      ++i;
    }
    if (i == s.size()) return true;
    if (s[i] != ',') return false;
    ++i;
  }
  return false;  // empty, or a trailing comma
}

// The blob is the key type as an SSH string (uint32 length, bytes) followed by the
// key's other fields, each length-prefixed too (RSA's mpints, the curve and point,
// the security key's application), using every byte: a cut or padded blob fails.
bool blob_names_type(const core::Bytes& blob, std::string_view type) {
  std::size_t pos = 0;
  std::size_t fields = 0;
  while (pos < blob.size()) {
    if (blob.size() - pos < 4) return false;
    const std::size_t n = std::size_t{blob[pos]} << 24 | std::size_t{blob[pos + 1]} << 16 |
                          std::size_t{blob[pos + 2]} << 8 | blob[pos + 3];
    pos += 4;
    if (n > blob.size() - pos) return false;
    if (fields == 0 &&
        (n != type.size() || !std::equal(type.begin(), type.end(), blob.begin() + 4)))
      return false;
    pos += n;
    ++fields;
  }
  return fields >= 2;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view next_field(std::string_view& s) {
  s = trim(s);
  const std::size_t end = std::min(s.find_first_of(" \t"), s.size());
  const std::string_view field = s.substr(0, end);
  s.remove_prefix(end);
  return field;
}

std::string ssh_dir(const KeyOwner& owner) {
  return owner.home + "/.ssh";
}
std::string keys_file(const KeyOwner& owner) {
  return owner.home + "/.ssh/authorized_keys";
}

// lstat that reports a symlink anywhere on the way (Follow::never) as refused.
core::Result<std::optional<struct stat>> lstat_strict(const core::Root& root,
                                                      const std::string& guest) {
  auto parent = root.open_parent(guest, core::Follow::never);
  if (!parent && parent.error().code == std::errc::no_such_file_or_directory)
    return std::optional<struct stat>{};
  if (!parent) return std::move(parent).error();
  return root.lstat(guest);
}

}  // namespace

std::string SshKey::line() const {
  std::string out;
  if (!options.empty()) out = options + " ";
  out += type + " " + blob;
  if (!comment.empty()) out += " " + comment;
  return out;
}

core::Result<SshKey> parse_ssh_key(std::string_view line) {
  if (line.size() > kMaxLine) return bad("line is longer than 16 KiB");
  if (line.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos)
    return bad("line holds a NUL or line break");
  for (char c : line)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
      return bad("line holds control characters");
  std::string_view rest = trim(line);
  if (rest.empty() || rest.front() == '#') return bad("line is empty or a comment");
  SshKey key;
  // Options come first when the first field is not a key type (sshd(8) does the same).
  const std::size_t first_end = std::min(rest.find_first_of(" \t"), rest.size());
  if (!known_type(rest.substr(0, first_end))) {
    const std::size_t n = options_length(rest);
    if (n == std::string_view::npos) return bad("unterminated quote in options");
    const std::string_view options = rest.substr(0, n);
    if (!valid_options(options)) {
      if (options.find('"') == std::string_view::npos &&
          options.find('=') == std::string_view::npos &&
          options.find(',') == std::string_view::npos)
        return bad(
            "unknown key type (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or an "
            "sk- type)");
      return bad("malformed options");
    }
    key.options = std::string(options);
    rest.remove_prefix(n);
  }
  const std::string_view type = next_field(rest);
  if (!known_type(type))
    return bad(
        "unknown key type (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or an sk- "
        "type)");
  const std::string_view blob = next_field(rest);
  if (blob.empty()) return bad("no key data after the type");
  auto decoded = core::base64_decode(blob);
  if (!decoded) return bad("key data is not valid base64");
  if (!blob_names_type(*decoded, type)) return bad("key data does not match its type");
  key.type = std::string(type);
  key.blob = std::string(blob);
  key.comment = std::string(trim(rest));
  return key;
}

std::string merge_authorized_keys(std::string_view existing, const std::vector<SshKey>& add,
                                  const std::vector<SshKey>& remove, bool& changed) {
  changed = false;
  std::vector<std::string> lines;
  std::vector<SshKey> present;
  for (const auto& line : core::split_lines(existing)) {
    auto key = parse_ssh_key(line);
    if (key) {
      const bool drop = std::any_of(remove.begin(), remove.end(),
                                    [&](const SshKey& r) { return r.same_key(*key); });
      if (drop) {
        changed = true;
        continue;
      }
      present.push_back(*key);
    }
    lines.push_back(line);
  }
  for (const auto& key : add) {
    const bool removed =
        std::any_of(remove.begin(), remove.end(), [&](const SshKey& r) { return r.same_key(key); });
    const bool have = std::any_of(present.begin(), present.end(),
                                  [&](const SshKey& p) { return p.same_key(key); });
    if (removed || have) continue;
    present.push_back(key);
    lines.push_back(key.line());
    changed = true;
  }
  return core::join_lines(lines);
}

std::vector<SshKey> list_authorized_keys(std::string_view text) {
  std::vector<SshKey> keys;
  for (const auto& line : core::split_lines(text))
    if (auto key = parse_ssh_key(line)) keys.push_back(std::move(key).value());
  return keys;
}

core::Status check_ssh_paths(const core::Root& root, const KeyOwner& owner) {
  const std::pair<std::string, mode_t> expected[] = {
      {owner.home, S_IFDIR}, {ssh_dir(owner), S_IFDIR}, {keys_file(owner), S_IFREG}};
  for (const auto& [path, type] : expected) {
    auto st = lstat_strict(root, path);
    if (!st) return std::move(st).error();
    if (!*st) return {};  // missing: created later, nothing below it exists either
    if (S_ISLNK((*st)->st_mode))
      return core::make_error(core::Errc::symlink_refused,
                              root.display(path) + " is a symlink, refusing to follow it");
    if (((*st)->st_mode & S_IFMT) != type)
      return core::make_error(
          core::Errc::unsafe,
          root.display(path) + " is not a " + (type == S_IFDIR ? "directory" : "regular file"));
  }
  return {};
}

core::Result<std::string> read_authorized_keys(const core::Root& root, const KeyOwner& owner) {
  if (auto ok = check_ssh_paths(root, owner); !ok) return std::move(ok).error();
  auto text = core::read_file_if_exists(root, keys_file(owner), 1 << 20, core::Follow::never);
  if (!text) return std::move(text).error();
  return text->value_or("");
}

core::Result<bool> update_authorized_keys(const core::Root& root, const KeyOwner& owner,
                                          const std::vector<SshKey>& add,
                                          const std::vector<SshKey>& remove) {
  auto current = read_authorized_keys(root, owner);
  if (!current) return std::move(current).error();
  bool changed = false;
  const std::string text = merge_authorized_keys(*current, add, remove, changed);

  auto home = root.stat(owner.home, core::Follow::never);
  if (!home) return std::move(home).error();
  if (!*home)
    return core::make_error(core::Errc::failed,
                            "home directory " + root.display(owner.home) + " does not exist");
  // ~/.ssh: created if missing, never through a symlink; 0700 and the user's.
  auto made = root.mkdirs(ssh_dir(owner), 0700, core::Follow::never);
  if (!made) return std::move(made).error();
  auto dir = root.open(ssh_dir(owner), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, core::Follow::never);
  if (!dir) return std::move(dir).error();
  struct stat st {};
  if (::fstat(dir->get(), &st) != 0)
    return core::errno_error("stat " + root.display(ssh_dir(owner)));
  if (st.st_uid != owner.uid || st.st_gid != owner.gid) {
    if (::fchown(dir->get(), owner.uid, owner.gid) != 0)
      return core::errno_error("chown " + root.display(ssh_dir(owner)));
    changed = true;
  }
  if ((st.st_mode & 07777) != 0700) {
    if (::fchmod(dir->get(), 0700) != 0)
      return core::errno_error("chmod " + root.display(ssh_dir(owner)));
    changed = true;
  }
  core::WriteOptions wo;
  wo.mode = 0600;
  wo.owner = owner.uid;
  wo.group = owner.gid;
  wo.follow = core::Follow::never;
  auto wrote = core::write_file_if_changed(root, keys_file(owner), text, wo);
  if (!wrote) return std::move(wrote).error();
  return changed || *wrote;
}

}  // namespace guestkit::plugins::provision
