// The serial transport's resync lines (agent/resync.hpp): what starts and ends a
// session on a stream without connections.

#include <catch2/catch.hpp>

#include "agent/resync.hpp"

namespace ga = guestkit::agent;
using Kind = ga::SyncLine::Kind;

TEST_CASE("agent resync lines: start, end, and everything else", "[agent][resync]") {
  const std::string start = ga::resync_start("a1-B_2");
  REQUIRE(start.front() == '\xff');
  REQUIRE(start.back() == '\n');
  const auto parsed = ga::parse_sync_line(start.substr(1, start.size() - 2));
  CHECK(parsed.kind == Kind::start);
  CHECK(parsed.token == "a1-B_2");
  CHECK(ga::parse_sync_line("{\"guestkit_sync\": \"t\"}\r").kind == Kind::start);

  CHECK(ga::resync_end() == "\xff\n");
  CHECK(ga::parse_sync_line("").kind == Kind::end);
  CHECK(ga::parse_sync_line("\r").kind == Kind::end);

  for (const char* bad :
       {"{}", "[]", "garbage", "{\"guestkit_sync\": 1}", "{\"guestkit_sync\": \"\"}",
        "{\"guestkit_sync\": \"a b\"}", "{\"guestkit_sync\": \"t\", \"op\": \"info\"}",
        "{\"id\": 1, \"op\": \"info\"}", "{\"guestkit_sync\": \"t\"", "\r\r"}) {
    INFO(bad);
    CHECK(ga::parse_sync_line(bad).kind == Kind::invalid);
  }
  CHECK(ga::parse_sync_line("{\"guestkit_sync\": \"" + std::string(64, 'x') + "\"}").kind ==
        Kind::start);
  CHECK(ga::parse_sync_line("{\"guestkit_sync\": \"" + std::string(65, 'x') + "\"}").kind ==
        Kind::invalid);
  CHECK(ga::parse_sync_line(std::string(300, ' ')).kind == Kind::invalid);
}

TEST_CASE("agent resync tokens", "[agent][resync]") {
  CHECK(ga::valid_sync_token("0123456789abcdef"));
  CHECK(ga::valid_sync_token("A-z_9"));
  CHECK_FALSE(ga::valid_sync_token(""));
  CHECK_FALSE(ga::valid_sync_token("a.b"));
  CHECK_FALSE(ga::valid_sync_token("a\xff"));
  CHECK_FALSE(ga::valid_sync_token(std::string(65, 'a')));
}
