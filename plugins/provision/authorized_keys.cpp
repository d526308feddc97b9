#include "plugins/provision/authorized_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "core/encoding.hpp"
#include "core/files.hpp"
#include "plugins/provision/ssh_key_line.hpp"

namespace guestkit::plugins::provision {
namespace {

// The types guestkit writes for a provisioning order: plain keys under their own names.
// sshd takes more (certificates, ssh-dss, the rsa-sha2-* aliases of ssh-rsa): such lines
// are refused explicitly, never read as another key.
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

// The key of a line sshd reads as one (options aside), as an SshKey.
SshKey to_key(const KeyLine& line) {
  SshKey key;
  key.options = std::string(line.options);
  key.type = std::string(line.type);
  key.blob = std::string(line.blob);
  key.comment = std::string(line.comment);
  key.identity = line.identity;
  return key;
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
  // Stricter than sshd on the text itself: one printable line of sane length.
  if (line.size() > kMaxLine) return bad("line is longer than 16 KiB");
  if (line.find_first_of(std::string_view("\0\n\r", 3)) != std::string_view::npos)
    return bad("line holds a NUL or line break");
  for (char c : line)
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
      return bad("line holds control characters");
  // Then exactly sshd's reading: the key accepted is the key sshd would use.
  const KeyLine read = read_key_line(line);
  switch (read.kind) {
    case KeyLine::Kind::skip:
      return bad("line is empty or a comment");
    case KeyLine::Kind::not_key:
      if (read.error == "unknown key type")
        return bad(
            "unknown key type (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or an "
            "sk- type)");
      return bad(read.error);
    case KeyLine::Kind::key:
      break;
  }
  if (!read.options_error.empty()) return bad("options refused by sshd: " + read.options_error);
  if (read.certificate)
    return bad("certificate lines are not accepted (" + std::string(read.type) + ")");
  if (!known_type(read.type))
    return bad("key type " + std::string(read.type) +
               " is not accepted (expected ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or "
               "an sk- type)");
  // The blob must carry the line's own type name (sshd also takes aliases and short
  // names there; we write only what ssh-keygen writes).
  std::string prefix;  // the blob's first field: uint32 length, then the name
  const auto n = static_cast<std::uint32_t>(read.type.size());
  for (const int shift : {24, 16, 8, 0}) prefix += static_cast<char>(n >> shift);
  prefix += read.type;
  const auto decoded = core::base64_decode(read.blob);
  if (!decoded || decoded->size() < prefix.size() ||
      !std::equal(prefix.begin(), prefix.end(), decoded->begin(),
                  [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }))
    return bad("key data does not name its type as ssh-keygen writes it");
  return to_key(read);
}

std::string merge_authorized_keys(std::string_view existing, const std::vector<SshKey>& add,
                                  const std::vector<SshKey>& remove, bool& changed) {
  changed = false;
  std::vector<std::string> lines;
  std::vector<std::string> present;  // identities of the keys sshd reads in the kept lines
  for (const auto& line : core::split_lines(existing)) {
    // Every line sshd reads as a removed key goes, whatever its options (a cert-authority
    // line, one sshd refuses for its options, an rsa-sha2-* or certificate spelling).
    const KeyLine read = read_key_line(line);
    if (read.kind == KeyLine::Kind::key) {
      const bool drop = std::any_of(remove.begin(), remove.end(),
                                    [&](const SshKey& r) { return r.identity == read.identity; });
      if (drop) {
        changed = true;
        continue;
      }
      // A line that authorizes the key as such counts as having it.
      if (read.options_error.empty() && !read.certificate && !read.cert_authority)
        present.push_back(read.identity);
    }
    lines.push_back(line);
  }
  for (const auto& key : add) {
    const bool removed =
        std::any_of(remove.begin(), remove.end(), [&](const SshKey& r) { return r.same_key(key); });
    const bool have = std::find(present.begin(), present.end(), key.identity) != present.end();
    if (removed || have) continue;
    present.push_back(key.identity);
    lines.push_back(key.line());
    changed = true;
  }
  return core::join_lines(lines);
}

std::vector<SshKey> list_authorized_keys(std::string_view text) {
  std::vector<SshKey> keys;
  for (const auto& line : core::split_lines(text)) {
    const KeyLine read = read_key_line(line);
    if (read.kind == KeyLine::Kind::key && read.options_error.empty() && !read.certificate)
      keys.push_back(to_key(read));
  }
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
