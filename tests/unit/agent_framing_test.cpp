// JSON Lines framing: partial lines, several lines per read, the length limit, UTF-8.

#include <catch2/catch.hpp>

#include "agent/framing.hpp"

namespace ga = guestkit::agent;
using Status = ga::LineReader::Status;

TEST_CASE("framing partial and multiple lines", "[agent][framing]") {
  ga::LineReader reader(64);
  std::string line;
  reader.feed("{\"a\":");
  CHECK(reader.next(line) == Status::need_more);
  reader.feed("1}\n{\"b\":2}\r\n{\"c\"");
  REQUIRE(reader.next(line) == Status::line);
  CHECK(line == "{\"a\":1}");
  REQUIRE(reader.next(line) == Status::line);
  CHECK(line == "{\"b\":2}");
  CHECK(reader.next(line) == Status::need_more);
  reader.feed(":3}\n");
  REQUIRE(reader.next(line) == Status::line);
  CHECK(line == "{\"c\":3}");
  CHECK(reader.buffered() == 0);
}

TEST_CASE("framing max length", "[agent][framing]") {
  std::string line;
  SECTION("exactly max is fine") {
    ga::LineReader reader(8);
    reader.feed("12345678\n");
    CHECK(reader.next(line) == Status::line);
  }
  SECTION("one more is too long, with its newline") {
    ga::LineReader reader(8);
    reader.feed("123456789\n");
    CHECK(reader.next(line) == Status::too_long);
  }
  SECTION("too long is seen before the newline arrives") {
    ga::LineReader reader(1024);
    for (int i = 0; i < 4; ++i) {
      reader.feed(std::string(300, 'x'));
      if (i < 3) CHECK(reader.next(line) == Status::need_more);
    }
    CHECK(reader.next(line) == Status::too_long);
  }
}

TEST_CASE("framing UTF-8", "[agent][framing]") {
  CHECK(ga::valid_utf8_text("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x91"));
  CHECK_FALSE(ga::valid_utf8_text("\xc3"));              // truncated
  CHECK_FALSE(ga::valid_utf8_text("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(ga::valid_utf8_text("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(ga::valid_utf8_text("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(ga::valid_utf8_text(std::string("a\0b", 3)));
  ga::LineReader reader(64);
  std::string line;
  reader.feed("\xff\xfe\n");
  CHECK(reader.next(line) == Status::bad_encoding);
}
