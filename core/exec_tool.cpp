// run_tool: exec's policy for system tools (core/exec.hpp, "Tools"): when a tool runs
// under dry-run, what its failure says, what is logged.

#include <string_view>

#include "core/context.hpp"
#include "core/exec.hpp"
#include "core/log.hpp"

namespace guestkit::core {
namespace {

std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

bool blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\v\f") == std::string_view::npos;
}

// What the tool was fed on stdin is where secrets go (chpasswd's "name:hash"): a
// tool that echoes a line of it back in a complaint must not carry it into a log.
// Every word of the input long enough to be a secret is cut out of the text.
std::string without_input(std::string_view text, std::string_view input) {
  constexpr std::size_t kShortest = 6;  // shorter words are field names, user names...
  std::string out(text);
  while (!input.empty()) {
    const auto end = input.find_first_of(": \t\r\n");
    const std::string_view word = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
    if (word.size() < kShortest) continue;
    for (auto at = out.find(word); at != std::string::npos; at = out.find(word, at))
      out.replace(at, word.size(), "<redacted>");
  }
  return out;
}

// The last lines a tool wrote: where it says why it gave up (e2fsck and resize2fs
// open with a banner, so the first line says nothing).
std::string tail_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (blank(line)) continue;
    line.remove_prefix(line.find_first_not_of(" \t\r\v\f"));
    line.remove_suffix(line.size() - 1 - line.find_last_not_of(" \t\r\v\f"));
    lines.push_back(line);
  }
  const std::size_t first = lines.size() > kToolTailLines ? lines.size() - kToolTailLines : 0;
  std::string tail;
  for (std::size_t i = first; i < lines.size(); ++i)
    tail.append(tail.empty() ? "" : "; ").append(lines[i]);
  if (tail.size() > kToolTailBytes) {
    std::size_t cut = tail.size() - kToolTailBytes;
    // Never half a UTF-8 character: skip continuation bytes.
    while (cut < tail.size() && (static_cast<unsigned char>(tail[cut]) & 0xc0) == 0x80) ++cut;
    tail = "..." + tail.substr(cut);
  }
  return sanitize_for_log(tail);
}

bool may_act(const Context& ctx, ToolEffect effect) {
  switch (effect) {
    case ToolEffect::reads:
      return true;
    case ToolEffect::changes:
      return !ctx.dry_run;
    case ToolEffect::changes_live:
      return !ctx.dry_run && ctx.root.is_host();
  }
  return false;
}

Error failure(const std::vector<std::string>& argv, const ExecResult& result,
              std::string_view input) {
  const std::string said = without_input(blank(result.err) ? result.out : result.err, input);
  const std::string tail = tail_of(said);
  const std::string tool = argv.empty() ? std::string("tool") : argv.front();
  return make_error(Errc::failed,
                    tool + " " + result.describe() + (tail.empty() ? "" : ": " + tail));
}

}  // namespace

Error tool_error(const std::vector<std::string>& argv, const ExecResult& result) {
  return failure(argv, result, {});
}

Result<ExecResult> run_tool(const std::vector<std::string>& argv, const ToolOptions& options) {
  log_debug("run ", joined(argv));
  auto r = run(argv, options);
  if (!r) return std::move(r).error();
  log_debug(argv.front(), ": ", r->describe());
  if (options.failure_is_error && !r->success()) return failure(argv, *r, options.stdin_data);
  return r;
}

Result<ExecResult> run_tool(const Context& ctx, ToolEffect effect,
                            const std::vector<std::string>& argv, const ToolOptions& options) {
  if (may_act(ctx, effect)) return run_tool(argv, options);
  would_run(ctx, argv);
  ExecResult r;
  r.exit_code = 0;
  r.dry_run = true;
  return r;
}

void would_run(const Context& ctx, const std::vector<std::string>& argv) {
  ctx.would("run " + joined(argv));
}

}  // namespace guestkit::core
