#pragma once
// authorized_keys: validating one key line for writing (read as sshd reads it, see
// ssh_key_line.hpp, then guestkit's own limits), listing and merging the lines of a file
// with that same reader, and writing ~USER/.ssh/authorized_keys through the Root without
// following any symlink.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::plugins::provision {

struct SshKey {
  std::string options;  // "from=\"10.0.0.0/8\",no-pty" or ""
  std::string type;     // "ssh-ed25519"
  std::string blob;     // base64, as given
  std::string comment;  // may be empty; spaces allowed
  // The public key, canonical (KeyLine::identity): equal for every spelling of one key.
  std::string identity;

  std::string line() const;  // the authorized_keys line, without '\n'
  // Two lines are the same key when their public keys are (options and comment aside).
  bool same_key(const SshKey& other) const { return identity == other.identity; }
};

// One authorized_keys line to write: the key sshd would read from it, when sshd would
// authorize it (options included) and it is a plain key of a type in the list below.
// Errc::bad_input with a message that names the problem (never the key material).
// Deliberately stricter than sshd, each with its own message: control characters, lines
// over 16 KiB, certificates, ssh-dss, the rsa-sha2-* type aliases, and blobs that do not
// carry the line's own type name.
core::Result<SshKey> parse_ssh_key(std::string_view line);

// The new file text: `existing` lines kept in order (comments and lines sshd reads no key
// from too: they are not ours to judge), every line sshd reads as a key in `remove`
// dropped (whatever its options, type alias or certificate wrapping), keys in `add`
// appended unless a line already authorizes them. `changed` tells whether anything differs.
std::string merge_authorized_keys(std::string_view existing, const std::vector<SshKey>& add,
                                  const std::vector<SshKey>& remove, bool& changed);

// The keys sshd authorizes from a file's text, in order, as sshd reads them (lines it
// refuses or reads no key from are skipped, and certificate lines, which never match a
// plain key; cert-authority lines are listed with their options).
std::vector<SshKey> list_authorized_keys(std::string_view text);

struct KeyOwner {
  std::string home;  // guest path of the home directory ("/home/admin", "/root")
  uid_t uid = 0;
  gid_t gid = 0;
};

// Errc::symlink_refused when HOME/.ssh or HOME/.ssh/authorized_keys is a symlink (or
// HOME itself, or any component on the way), Errc::unsafe when one is not a directory
// / regular file. Nothing is changed. The provision order checks this up front.
core::Status check_ssh_paths(const core::Root& root, const KeyOwner& owner);

// Reads the current file ("" when absent), never through a symlink.
core::Result<std::string> read_authorized_keys(const core::Root& root, const KeyOwner& owner);

// Merges and, when anything changed, writes HOME/.ssh (0700) and
// HOME/.ssh/authorized_keys (0600, atomically), both owned by the user. Returns
// whether it wrote.
core::Result<bool> update_authorized_keys(const core::Root& root, const KeyOwner& owner,
                                          const std::vector<SshKey>& add,
                                          const std::vector<SshKey>& remove);

}  // namespace guestkit::plugins::provision
