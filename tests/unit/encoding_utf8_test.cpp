// UTF-8 validation exists once (core/encoding.hpp) and is strict everywhere it is used:
// before, the password check and log sanitising accepted overlong forms and surrogates,
// and disk labels accepted 3- and 4-byte overlongs.

#include <catch2/catch.hpp>
#include <string>

#include "agent/framing.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "plugins/provision/validate.hpp"

namespace core = guestkit::core;

namespace {
// Each is invalid UTF-8 a lax decoder reads as a character.
const char* const kInvalid[] = {
    "\xc0\xaf",          // overlong '/' (2 bytes)
    "\xe0\x80\xaf",      // overlong '/' (3 bytes)
    "\xf0\x80\x80\xaf",  // overlong '/' (4 bytes)
    "\xed\xa0\x80",      // surrogate U+D800
    "\xf4\x90\x80\x80",  // U+110000, above the last code point
    "\xe2\x82",          // truncated
};
}  // namespace

TEST_CASE("utf8: one strict validator", "[encoding]") {
  CHECK(core::valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK(core::utf8_sequence_length("\xe2\x82\xac", 0) == 3);
  for (const char* bad : kInvalid) {
    INFO(bad);
    CHECK_FALSE(core::valid_utf8(std::string("a") + bad));
    CHECK(core::utf8_sequence_length(bad, 0) == 0);
  }
}

TEST_CASE("utf8: passwords, agent lines and logs use the strict validator", "[encoding]") {
  for (const char* bad : kInvalid) {
    INFO(bad);
    CHECK(guestkit::plugins::provision::check_password(std::string("pass") + bad) ==
          "password is not valid UTF-8");
    CHECK_FALSE(guestkit::agent::valid_utf8_text(bad));
    // Logged as escapes, never as the bytes a terminal might decode.
    CHECK(core::sanitize_for_log(bad).find('\\') != std::string::npos);
  }
  CHECK(guestkit::plugins::provision::check_password("p\xc3\xa4ss").empty());
}
