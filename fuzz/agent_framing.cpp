// The agent's input path before any key is involved: bytes from the peer in arbitrary
// chunks -> LineReader -> UTF-8 check -> JSON -> envelope shape. Properties: a line is
// never longer than the cap and never holds '\n'; lines are exactly the stream's bytes
// in order, each ended by "\n" or "\r\n" (nothing lost, nothing invented).

#include <nlohmann/json.hpp>
#include <string>

#include "agent/framing.hpp"
#include "agent/protocol.hpp"
#include "fuzz/fuzz.hpp"

using guestkit::agent::LineReader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // First byte: the chunk size the peer's bytes arrive in (1..256) and the line cap.
  const std::size_t chunk = 1 + data[0];
  const std::size_t cap = 64 + 8 * data[0];
  std::string_view rest = fuzz_text(data + 1, size - 1);
  LineReader reader(cap);
  std::size_t consumed = 0;
  bool stopped = false;
  while (!rest.empty() && !stopped) {
    const auto piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    reader.feed(piece);
    std::string line;
    for (;;) {
      const auto status = reader.next(line);
      if (status == LineReader::Status::need_more) break;
      if (status != LineReader::Status::line) {
        stopped = true;  // the session ends here: too long or not UTF-8
        break;
      }
      FUZZ_CHECK(line.size() <= cap);
      FUZZ_CHECK(line.find('\n') == std::string::npos);
      FUZZ_CHECK(guestkit::agent::valid_utf8_text(line));
      const auto raw = fuzz_text(data + 1, size - 1);
      FUZZ_CHECK(raw.substr(consumed, line.size()) == line);
      consumed += line.size();
      if (raw[consumed] == '\r') ++consumed;
      FUZZ_CHECK(raw[consumed] == '\n');
      ++consumed;
      auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!json.is_discarded()) {
        (void)guestkit::agent::is_envelope(json);
        guestkit::agent::wipe_json(json);
      }
    }
  }
  if (!stopped) FUZZ_CHECK(consumed + reader.buffered() == size - 1 - rest.size());
  return 0;
}
