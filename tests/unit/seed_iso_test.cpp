// plugins/seed's iso9660 reader under crafted volume descriptors: the sizes an image
// declares are checked against the medium and a cap before libarchive sizes a buffer
// from them (fuzz/README.md, the seed_archive finding). Images live in memfds, as the
// fuzz target reads them: a descriptor, no device, no mount.

#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "plugins/seed/archive.hpp"
#include "plugins/seed/discover.hpp"

namespace seed = guestkit::plugins::seed;

namespace {

// A fuzz input of fuzz/corpus/seed_archive/: its first byte picks the reader.
std::string corpus_image(const std::string& name) {
  std::ifstream in(std::string(GUESTKIT_SOURCE_DIR) + "/fuzz/corpus/seed_archive/" + name,
                   std::ios::binary);
  REQUIRE(in);
  std::ostringstream os;
  os << in.rdbuf();
  std::string bytes = os.str();
  REQUIRE(bytes.size() > 1);
  REQUIRE((bytes[0] & 1) == 0);  // the iso9660 reader's input
  return bytes.substr(1);
}

class Memfd {
 public:
  explicit Memfd(const std::string& bytes) : fd_(::memfd_create("iso", MFD_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    REQUIRE(::pwrite(fd_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  }
  ~Memfd() { ::close(fd_); }
  Memfd(const Memfd&) = delete;
  Memfd& operator=(const Memfd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void put_le32(std::string& img, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) img[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

constexpr std::size_t kPvd = 16 * 2048;

std::string read_error(const std::string& img) {
  Memfd fd(img);
  auto r = seed::detail::read_iso(fd.get(), seed::SourceKind::nocloud, "test.iso");
  REQUIRE_FALSE(r);
  return r.error().message();
}

}  // namespace

TEST_CASE("seed iso9660: a genisoimage cidata reads, its declared sizes are in bounds",
          "[seed][iso]") {
  const std::string img = corpus_image("nocloud.iso");
  Memfd fd(img);
  REQUIRE(seed::detail::check_iso_bounds(fd.get(), img.size(), "nocloud.iso"));
  auto r = seed::detail::read_iso(fd.get(), seed::SourceKind::nocloud, "nocloud.iso");
  INFO((r ? "" : r.error().message()));
  REQUIRE(r);
  CHECK(r->files.count("meta-data") == 1);
  CHECK(r->refused.empty());
}

// The fuzz finding: a root directory record declaring 0xffffff00 bytes made libarchive
// 3.6 malloc 6 GiB for its read-ahead before reading anything. Before the bounds check
// the read failed only after that allocation, with libarchive's "Failed to read full
// block"; now guestkit refuses the image from its descriptor alone (the input is also a
// truncated image: its volume is larger than the bytes there).
TEST_CASE("seed iso9660: the fuzzer's 6 GiB root directory is refused before libarchive",
          "[seed][iso]") {
  const std::string img = corpus_image("regress-iso9660-malloc-6GiB");
  const std::string msg = read_error(img);
  INFO(msg);
  CHECK(msg.find("refused test.iso: its volume descriptor (sector 16) declares a volume of "
                 "374784 bytes, more than the medium's 62692") != std::string::npos);
  CHECK(msg.find("Failed to read") == std::string::npos);
}

TEST_CASE("seed iso9660: declared sizes beyond the medium or the cap are refused", "[seed][iso]") {
  const std::string good = corpus_image("nocloud.iso");

  SECTION("a root directory as large as 4 GiB") {
    std::string img = good;
    put_le32(img, kPvd + 156 + 10, 0xffffff00u);
    CHECK(read_error(img).find("root directory of 4294967040 bytes") != std::string::npos);
  }
  SECTION("a root directory starting past the volume") {
    std::string img = good;
    put_le32(img, kPvd + 156 + 2, 0x00100000u);
    CHECK(read_error(img).find("outside its volume") != std::string::npos);
  }
  SECTION("a volume larger than the medium") {
    std::string img = good;
    put_le32(img, kPvd + 80, static_cast<std::uint32_t>(img.size() / 2048 + 1));
    CHECK(read_error(img).find("more than the medium's " + std::to_string(img.size())) !=
          std::string::npos);
  }
  SECTION("a volume within the medium but over the cap") {
    // The medium is as large as the volume says (a sparse memfd), the cap still holds.
    std::string img = good;
    const std::uint64_t blocks = seed::detail::kMaxIsoVolumeBytes / 2048 + 1;
    put_le32(img, kPvd + 80, static_cast<std::uint32_t>(blocks));
    Memfd fd(img);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(blocks * 2048)) == 0);
    auto r = seed::detail::read_iso(fd.get(), seed::SourceKind::nocloud, "test.iso");
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("over the cap of " +
                                   std::to_string(seed::detail::kMaxIsoVolumeBytes)) !=
          std::string::npos);
  }
  SECTION("the Joliet supplementary descriptor is checked as well") {
    // genisoimage -joliet put it in sector 17 (libarchive reads Joliet's root when
    // there is no Rock Ridge).
    std::string img = good;
    REQUIRE(img[kPvd + 2048] == 2);
    REQUIRE(img.compare(kPvd + 2048 + 1, 5, "CD001") == 0);
    put_le32(img, kPvd + 2048 + 156 + 10, 0xfffff000u);
    CHECK(read_error(img).find("(sector 17) declares a root directory") != std::string::npos);
  }
}
