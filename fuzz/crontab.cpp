// 03-randomize-cron on any /etc/crontab: the number of lines is kept, lines it does
// does not own (no /etc/cron.* directory in them) are untouched, and a second pass with the same seed changes nothing.

#include <string>
#include <vector>

#include "core/files.hpp"
#include "fuzz/fuzz.hpp"
#include "plugins/boot/randomize_cron.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string seed(1 + data[0] % 40, static_cast<char>('a' + data[0] % 26));
  auto lines = guestkit::core::split_lines(fuzz_text(data + 1, size - 1));
  const auto before = lines;
  guestkit::plugins::boot::spread_crontab(lines, seed);
  FUZZ_CHECK(lines.size() == before.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i] != before[i]) FUZZ_CHECK(before[i].find("/etc/cron.") != std::string::npos);
  const auto once = lines;
  FUZZ_CHECK(!guestkit::plugins::boot::spread_crontab(lines, seed));
  FUZZ_CHECK(lines == once);
  return 0;
}
