// 03-randomize-cron (config): a fleet cloned from one image runs /etc/crontab's
// hourly/daily/weekly/monthly jobs at the same minute everywhere (apt, logrotate,
// man-db all at 06:25 on Debian). Each VM gets its own minute and (but for hourly)
// an hour between 00 and 05, derived from its instance id (core::find_instance_id,
// the same id the agent answers with; /etc/machine-id is its last source), so the times are stable
// across boots and a second run changes nothing. Rocky and RHEL run these from /etc/cron.d/0hourly
// and anacron, not /etc/crontab: nothing to spread there.

#include "plugins/boot/randomize_cron.hpp"

#include <algorithm>
#include <cstdint>

#include "core/files.hpp"
#include "core/instance_id.hpp"
#include "core/paths.hpp"
#include "plugins/boot/boot_util.hpp"
#include "plugins/boot/boot.hpp"

namespace guestkit::plugins::boot {
namespace {

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool number(std::string_view s) {
  return !s.empty() && s.size() <= 2 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Tokens and the blanks between them, so a line is rebuilt with its own spacing.
struct Split {
  std::vector<std::string> words;
  std::vector<std::string> gaps;  // gaps[i] precedes words[i]
  std::string rest;               // after words[6]: the command, verbatim
};

Split split_fields(const std::string& line, std::size_t count) {
  Split s;
  std::size_t i = 0;
  while (s.words.size() < count && i < line.size()) {
    std::size_t start = i;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    s.gaps.push_back(line.substr(start, i - start));
    start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    s.words.push_back(line.substr(start, i - start));
  }
  s.rest = line.substr(i);
  return s;
}

}  // namespace

bool spread_crontab(std::vector<std::string>& lines, const std::string& seed) {
  bool changed = false;
  for (auto& line : lines) {
    auto s = split_fields(line, 6);
    if (s.words.size() < 6 || s.words[0].empty() || s.words[0].front() == '#' ||
        s.words[0].front() == '@')
      continue;
    std::string kind;
    for (const char* k : {"hourly", "daily", "weekly", "monthly"})
      if (s.rest.find(core::paths::kCronDirPrefix + std::string(k)) != std::string::npos) kind = k;
    if (kind.empty() || !number(s.words[0]) || (!number(s.words[1]) && s.words[1] != "*")) continue;
    const std::uint64_t h = fnv1a(seed + "/" + kind);
    s.words[0] = std::to_string(h % 60);
    if (kind != "hourly" && number(s.words[1])) s.words[1] = std::to_string((h / 60) % 6);
    std::string rebuilt;
    for (std::size_t i = 0; i < s.words.size(); ++i) rebuilt += s.gaps[i] + s.words[i];
    rebuilt += s.rest;
    if (rebuilt != line) {
      line = rebuilt;
      changed = true;
    }
  }
  return changed;
}

core::Result<Outcome> randomize_cron(PluginContext& p) {
  const core::Root& root = p.ctx.root;
  auto crontab =
      core::read_file_if_exists(root, core::paths::kCrontab, 1 << 20, core::Follow::never);
  if (!crontab) return std::move(crontab).error();
  if (!*crontab) return Outcome::skipped;
  const auto id = core::find_instance_id(root);
  if (!id) return Outcome::skipped;  // nothing tells this VM apart yet
  const std::string& seed = id->value;
  auto lines = core::split_lines(**crontab);
  if (!spread_crontab(lines, seed)) return Outcome::unchanged;
  if (p.ctx.dry_run) {
    p.ctx.would("spread the periodic jobs of " + root.display(core::paths::kCrontab));
    return Outcome::changed;
  }
  core::WriteOptions wo;
  wo.follow = core::Follow::never;
  auto w = core::edit_lines(
      root, core::paths::kCrontab, [&](std::vector<std::string>& l) { spread_crontab(l, seed); },
      wo);
  if (!w) return std::move(w).error();
  return Outcome::changed;
}

}  // namespace guestkit::plugins::boot
