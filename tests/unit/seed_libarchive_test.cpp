// plugins/seed/libarchive.hpp: libarchive opened with dlopen when a seed is read.
// What no guestkit binary links at start is checked on the binaries themselves
// (tests/native/linkage_test.sh).

#include <catch2/catch.hpp>
#include <string>

#include "plugins/seed/libarchive.hpp"
#include "tests/support.hpp"

namespace detail = guestkit::plugins::seed::detail;

TEST_CASE("a missing libarchive is an error naming the library and what it is for", "[seed]") {
  auto lib = detail::open_libarchive("libguestkit-no-such-library.so.0");
  REQUIRE_FALSE(lib);
  const std::string msg = lib.error().message();
  CHECK(msg.find("cannot load libguestkit-no-such-library.so.0") != std::string::npos);
  CHECK(msg.find("reads seed media") != std::string::npos);
  CHECK(msg.find("No such file") != std::string::npos);  // dlerror's reason
}

TEST_CASE("a library that is no libarchive 3 is refused with the functions it lacks", "[seed]") {
  // zlib: present wherever libarchive is (it depends on it), without a single one of
  // libarchive's functions.
  auto lib = detail::open_libarchive("libz.so.1");
  REQUIRE_FALSE(lib);
  const std::string msg = lib.error().message();
  CHECK(msg.find("libz.so.1 is no libarchive 3: it lacks archive_read_new, archive_read_free") ==
        0);
  CHECK(msg.find("archive_entry_size") != std::string::npos);
}

TEST_CASE("libarchive is loaded whole on first use and reads", "[seed]") {
  auto lib = detail::load_libarchive();
  REQUIRE(lib);
  const detail::Libarchive& la = **lib;
#define GUESTKIT_CHECK_RESOLVED(fn) CHECK(la.fn != nullptr);
  GUESTKIT_LIBARCHIVE_FUNCTIONS(GUESTKIT_CHECK_RESOLVED)
#undef GUESTKIT_CHECK_RESOLVED
  CHECK(&detail::la() == &la);  // one load per process

  // Through the loaded functions: a tar of one member, then its end.
  const std::string name = "guestkit/order.json";
  std::string body(512, '\0');
  body.replace(0, 2, "{}");
  const std::string tar = guestkit::test::ustar_header(name, 2) + body + std::string(1024, '\0');

  auto reader = detail::new_reader();
  REQUIRE(reader);
  struct archive* a = reader->get();
  REQUIRE(la.archive_read_support_format_tar(a) == ARCHIVE_OK);
  REQUIRE(la.archive_read_open_memory(a, tar.data(), tar.size()) == ARCHIVE_OK);
  struct archive_entry* e = nullptr;
  REQUIRE(la.archive_read_next_header(a, &e) == ARCHIVE_OK);
  CHECK(std::string(la.archive_entry_pathname(e)) == name);
  CHECK(la.archive_entry_size(e) == 2);
  char data[8] = {};
  CHECK(la.archive_read_data(a, data, sizeof data) == 2);
  CHECK(std::string(data) == "{}");
  CHECK(la.archive_read_next_header(a, &e) == ARCHIVE_EOF);
}
