#pragma once
// Files through a Root: reads with a size cap, atomic writes (temp file in the same
// directory, fsync, rename, fsync dir) with mode and owner, and line-oriented edits
// that only rewrite a file when its content really changes.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/root.hpp"

namespace guestkit::core {

inline constexpr std::size_t kDefaultReadLimit = 16u << 20;

// Whole file. Files over `limit` bytes are an error (EFBIG), never silently cut.
Result<std::string> read_file(const Root& root, std::string_view guest,
                              std::size_t limit = kDefaultReadLimit,
                              Follow follow = Follow::in_root);
// Like read_file, but std::nullopt when the file does not exist.
Result<std::optional<std::string>> read_file_if_exists(const Root& root, std::string_view guest,
                                                       std::size_t limit = kDefaultReadLimit,
                                                       Follow follow = Follow::in_root);

struct WriteOptions {
  mode_t mode = 0644;
  std::optional<uid_t> owner;  // default: the writer's
  std::optional<gid_t> group;
  // How the parent directories are reached. The file itself is always replaced by
  // rename, so a symlink planted at its name is replaced, never written through.
  Follow follow = Follow::in_root;
  bool create_parents = false;
  mode_t parent_mode = 0755;
  // fsync the file and its directory. Off only for volatile state under /run, which
  // a crash erases anyway; the write stays atomic either way.
  bool durable = true;
};

// Atomically replaces `guest` with `data`: readers see the old or the new content,
// never a mix, and a crash leaves the old file intact. The temp file is created 0600
// and gets its final mode and owner before any data is written, so a secret is never
// readable by others even for a moment.
Status write_file_atomic(const Root& root, std::string_view guest, std::string_view data,
                         const WriteOptions& options = {});

// Temporary files of write_file_atomic are named ".NAME.gk-" + 16 hex digits, in
// the target's directory, and locked (flock) by their writer until the rename. One
// left by a writer that was killed is removed by the next write_file_atomic in that
// directory, and by sweep_temp_files: only names of that pattern, only regular files
// with one link owned by root, us or the directory's owner (a
// temp file gets its final owner first: ~admin/.ssh), only older than `min_age`, and only when no
// writer holds the lock. Returns the names removed.
inline constexpr std::chrono::seconds kTempMinAge{10};
bool is_temp_name(std::string_view name);

// The one naming of guestkit's temporary names beside a target NAME, in its directory:
// temp_name is ".NAME.gk-" + 16 random hex digits (NAME cut to 200 bytes, within
// NAME_MAX), for a file or link made with O_EXCL or its like and renamed over NAME
// (is_temp_name's pattern); staging_name is ".NAME.gk-" + `word`, a fixed name for a
// directory built whole and renamed into place, which the next try after a kill finds
// and removes first.
std::string temp_name(std::string_view leaf);
std::string staging_name(std::string_view leaf, std::string_view word);
Result<std::vector<std::string>> sweep_temp_files(const Root& root, std::string_view guest_dir,
                                                  std::chrono::seconds min_age = kTempMinAge);
Result<std::vector<std::string>> sweep_temp_files(int dirfd,
                                                  std::chrono::seconds min_age = kTempMinAge);

// write_file_atomic unless the file already has exactly this content, mode and owner.
// Returns true when it wrote.
Result<bool> write_file_if_changed(const Root& root, std::string_view guest, std::string_view data,
                                   const WriteOptions& options = {});

// Line helpers. Lines are split on '\n'; a final newline does not make an empty line.
std::vector<std::string> split_lines(std::string_view text);
std::string join_lines(const std::vector<std::string>& lines);  // each line + '\n'

// Reads `guest` (missing = no lines), lets `edit` change the lines, and writes back
// atomically only if they changed, keeping the existing file's mode and owner (new
// files get `options`). Returns true when it wrote.
Result<bool> edit_lines(const Root& root, std::string_view guest,
                        const std::function<void(std::vector<std::string>&)>& edit,
                        const WriteOptions& options = {});

// Sets `KEY<sep>value` (replacing the first active assignment of KEY, removing later
// duplicates, appending if absent). Comment lines ('#') are never touched.
void set_assignment(std::vector<std::string>& lines, std::string_view key, std::string_view value,
                    std::string_view sep = "=");
// Appends `line` unless an identical line is present.
void ensure_line(std::vector<std::string>& lines, std::string_view line);
// Removes every line for which `match` is true; returns how many.
std::size_t remove_lines(std::vector<std::string>& lines,
                         const std::function<bool(std::string_view)>& match);
// Replaces the block between the marker lines `begin` and `end` (inclusive) with
// begin + body + end, or appends it; an empty body with `remove_if_empty` drops it.
void replace_block(std::vector<std::string>& lines, std::string_view begin, std::string_view end,
                   const std::vector<std::string>& body, bool remove_if_empty = false);

}  // namespace guestkit::core
