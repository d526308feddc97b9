// The legacy gandi flags file (/etc/default/gandi, /etc/sysconfig/gandi) is shell:
// the old scripts sourced it. We never run a shell on it (it is root-owned input that
// would run as root at every boot); instead a small lexer understands the plain subset
// people actually write — assignments, `export`, quotes, comments — and anything that
// would need a shell to mean something ($(...), `...`, $VAR, pipes) is a warning.

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/config_features.hpp"

namespace guestkit::core {
namespace {

using detail::printable;

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

struct Word {
  std::string text;  // after quote removal; the value for an assignment
  std::string name;  // for `NAME=value`
  bool assignment = false;
  std::string refused;  // an expansion we would have needed a shell for: "$(...)"
};

// One simple command: the words up to a newline or ';'.
struct Statement {
  int line = 0;
  std::vector<Word> words;
  std::string problem;  // syntax we do not handle; the statement is skipped
};

class ShellLexer {
 public:
  explicit ShellLexer(std::string_view text) : text_(text) {}

  // False at the end of the text (or after a problem that makes the rest unreadable).
  bool next(Statement& out) {
    out = Statement{};
    while (!stopped_ && pos_ < text_.size()) {
      const char c = text_[pos_];
      if (is_blank(c) || c == '\r') {
        ++pos_;
      } else if (c == '\n' || c == ';') {
        if (c == '\n') ++line_;
        ++pos_;
        if (!out.words.empty()) return true;
      } else if (c == '#') {  // only at the start of a word: a comment
        skip_to_end_of_line();
      } else if (c == '\\' && peek(1) == '\n') {  // line continuation
        pos_ += 2;
        ++line_;
      } else {
        if (out.words.empty()) out.line = line_;
        read_word(out);
        if (!out.problem.empty()) return true;
      }
    }
    return !out.words.empty();
  }

 private:
  char peek(std::size_t ahead) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void skip_to_end_of_line() {
    while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
  }
  // Moves to `end` (exclusive), counting the newlines passed.
  void advance_to(std::size_t end) {
    line_ += static_cast<int>(std::count(text_.begin() + static_cast<std::ptrdiff_t>(pos_),
                                         text_.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
    pos_ = end;
  }
  // A quote or substitution runs past the end: a shell would reject the whole file
  // from here on, so do we.
  void unterminated(Statement& out, std::string what) {
    out.problem = "unterminated " + std::move(what) + ", ignoring the rest of the file";
    stopped_ = true;
    pos_ = text_.size();
  }

  void read_word(Statement& out) {
    Word word;
    bool maybe_name = true;  // every character so far could belong to NAME in NAME=
    while (pos_ < text_.size() && out.problem.empty()) {
      const char c = text_[pos_];
      if (is_blank(c) || c == '\n' || c == ';' || c == '\r') break;
      if (c == '|' || c == '&' || c == '<' || c == '>' || c == '(' || c == ')') {
        out.problem = std::string("unsupported shell syntax '") + c + "', ignoring";
        skip_to_end_of_line();
        return;
      }
      if (c == '=' && maybe_name && !word.text.empty() && !is_digit(word.text.front())) {
        word.assignment = true;
        word.name = std::exchange(word.text, {});
        maybe_name = false;
        ++pos_;
        continue;
      }
      if (!is_name_char(c)) maybe_name = false;
      if (c == '\'') {
        const std::size_t close = text_.find('\'', pos_ + 1);
        if (close == std::string_view::npos) return unterminated(out, "quote");
        word.text.append(text_.substr(pos_ + 1, close - pos_ - 1));
        advance_to(close + 1);
      } else if (c == '"') {
        read_double_quoted(out, word);
      } else if (c == '\\') {
        if (peek(1) == '\n') {
          ++line_;
        } else if (pos_ + 1 < text_.size()) {
          word.text += text_[pos_ + 1];
        }
        pos_ = std::min(pos_ + 2, text_.size());
      } else if (c == '$' || c == '`') {
        skip_expansion(out, word);
      } else {
        word.text += c;
        ++pos_;
      }
    }
    out.words.push_back(std::move(word));
  }

  void read_double_quoted(Statement& out, Word& word) {
    ++pos_;
    while (pos_ < text_.size() && out.problem.empty()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c == '\\') {
        const char n = peek(1);
        if (n == '$' || n == '`' || n == '"' || n == '\\') {
          word.text += n;
          pos_ += 2;
        } else if (n == '\n') {
          pos_ += 2;
          ++line_;
        } else {
          word.text += c;
          ++pos_;
        }
      } else if (c == '$' || c == '`') {
        skip_expansion(out, word);
      } else {
        if (c == '\n') ++line_;
        word.text += c;
        ++pos_;
      }
    }
    if (out.problem.empty()) unterminated(out, "quote");
  }

  // Records what would have been expanded and steps over it without looking inside
  // more than needed to find its end.
  void skip_expansion(Statement& out, Word& word) {
    const char next = peek(1);
    if (text_[pos_] == '`') {
      const std::size_t close = text_.find('`', pos_ + 1);
      if (close == std::string_view::npos) return unterminated(out, "`...`");
      word.refused = "`...`";
      advance_to(close + 1);
    } else if (next == '(' || next == '{') {
      const char open = next;
      const char close = open == '(' ? ')' : '}';
      int depth = 0;
      std::size_t i = pos_ + 1;
      for (; i < text_.size(); ++i) {
        if (text_[i] == open) ++depth;
        if (text_[i] == close && --depth == 0) break;
      }
      if (i >= text_.size()) return unterminated(out, open == '(' ? "$(...)" : "${...}");
      word.refused = open == '(' ? "$(...)" : "${...}";
      advance_to(i + 1);
    } else if (is_name_char(next)) {
      std::size_t end = pos_ + 1;
      while (end < text_.size() && is_name_char(text_[end])) ++end;
      word.refused = printable(text_.substr(pos_, end - pos_), 40);
      pos_ = end;
    } else if (next != '\0' && std::string_view("@*#?$!-").find(next) != std::string_view::npos) {
      word.refused = std::string("$") + next;
      pos_ += 2;
    } else {  // "$" before a blank, quote or the end is a literal dollar, also in sh
      word.text += '$';
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool stopped_ = false;
};

// CONFIG_* on/off flags and the feature switch (config_features.hpp) each one drives.
constexpr std::pair<std::string_view, std::string_view> kFeatureFlags[] = {
    {"CONFIG_ALLOW_MOUNT", "disk"},
    {"CONFIG_MOTD", "motd"},
    {"CONFIG_TIMEZONE", "timezone"},
    {"CONFIG_SYSCTL", "sysctl"},
    {"CONFIG_SSHD", "sshd"},
    {"CONFIG_CONSOLE", "console"},
    {"CONFIG_CRON", "cron"},
    {"CONFIG_HOSTNAME", "hostname"},
    {"CONFIG_NAMESERVER", "nameserver"},
    {"CONFIG_NETWORK", "network"},
};
constexpr std::string_view kOtherVariables[] = {"CONFIG_MULTIQUEUE", "CONFIG_MOUNT_PARAMS",
                                                "CONFIG_DISK_ROOT", "CONFIG_NODHCP",
                                                "GANDI_HOOK_DIR"};

bool is_known(std::string_view name) {
  return std::any_of(std::begin(kFeatureFlags), std::end(kFeatureFlags),
                     [&](const auto& f) { return f.first == name; }) ||
         std::find(std::begin(kOtherVariables), std::end(kOtherVariables), name) !=
             std::end(kOtherVariables);
}

std::string trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  return std::string(text);
}

bool has_control_chars(const std::string& text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::optional<bool> parse_flag(std::string_view text) {
  std::string lower = trim(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  if (lower == "1" || lower == "yes" || lower == "true" || lower == "on") return true;
  if (lower == "0" || lower == "no" || lower == "false" || lower == "off") return false;
  return std::nullopt;
}

// Applies one known variable, or returns why not.
std::string apply_variable(Config& config, const std::string& name, const std::string& value) {
  const std::string shown = name + "='" + printable(value, 40) + "'";
  const auto set_flag = [&](bool& target) -> std::string {
    const auto flag = parse_flag(value);
    if (!flag) return shown + " is not 1/0, yes/no, true/false or on/off";
    target = *flag;
    return {};
  };
  for (const auto& [variable, feature] : kFeatureFlags) {
    if (name != variable) continue;
    for (const auto& [switch_name, enabled] : detail::feature_switches(config))
      if (switch_name == feature) return set_flag(*enabled);
  }
  if (name == "CONFIG_MULTIQUEUE") return set_flag(config.iface.multiqueue);
  if (name == "CONFIG_MOUNT_PARAMS") {
    // Empty meant "the defaults" to the old scripts, not "no options at all", which
    // would silently drop nosuid,nodev.
    if (trim(value).empty()) return {};
    if (has_control_chars(value)) return shown + " contains control characters";
    config.disk.mount_options = trim(value);
    return {};
  }
  if (name == "CONFIG_DISK_ROOT" || name == "GANDI_HOOK_DIR") {
    std::string path = trim(value);
    const bool climbs =
        path == ".." || path.find("/../") != std::string::npos || path.ends_with("/..");
    if (path.empty() || path.front() != '/' || climbs || has_control_chars(path))
      return shown + " is not an absolute path without '..'";
    // The old default file says GANDI_HOOK_DIR=/etc/gandi/hooks/ (the scripts appended
    // "/NAME"): the same directory.
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    (name == "CONFIG_DISK_ROOT" ? config.disk.root : config.legacy_hooks_dir) = path;
    return {};
  }
  if (name == "CONFIG_NODHCP") {
    std::vector<std::string> names;
    std::string current;
    for (const char c : value + " ") {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',') {
        if (!current.empty()) names.push_back(std::exchange(current, {}));
      } else {
        current += c;
      }
    }
    if (std::any_of(names.begin(), names.end(), has_control_chars))
      return shown + " contains control characters";
    config.iface.no_dhcp = std::move(names);
    return {};
  }
  return {};
}

bool is_plain_name(const Word& word) {
  return !word.assignment && word.refused.empty() && !word.text.empty() &&
         !is_digit(word.text.front()) &&
         std::all_of(word.text.begin(), word.text.end(), is_name_char);
}

}  // namespace

void apply_legacy(Config& config, const std::string& text, const std::string& name) {
  try {
    ShellLexer lexer(text);
    Statement statement;
    while (lexer.next(statement)) {
      const auto warn = [&](const std::string& message) {
        config.warnings.push_back(name + ":" + std::to_string(statement.line) + ": " + message);
      };
      if (!statement.problem.empty()) {
        warn(statement.problem);
        continue;
      }
      // `export A=1 B`, or `A=1 B=2`; anything else would run a command.
      const auto& words = statement.words;
      const bool exported = words.front().text == "export" && !words.front().assignment;
      const bool plain = std::all_of(
          words.begin() + (exported ? 1 : 0), words.end(),
          [&](const Word& w) { return w.assignment || (exported && is_plain_name(w)); });
      if (!plain) {
        warn("not a plain variable assignment (no shell is run), ignoring");
        continue;
      }
      for (const Word& word : words) {
        if (!word.assignment || !is_known(word.name)) continue;  // unknown: not ours
        if (!word.refused.empty()) {
          warn(word.name + ": refusing to expand " + word.refused + " (no shell is run), ignoring");
          continue;
        }
        const std::string problem = apply_variable(config, word.name, word.text);
        if (!problem.empty()) warn(problem + ", ignoring");
      }
    }
  } catch (const std::exception&) {
    // Only allocation can fail here; the legacy file is advisory, so keep what we have.
  }
}

}  // namespace guestkit::core
