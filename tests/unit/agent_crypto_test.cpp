// agent crypto: HKDF-SHA256 against RFC 5869, AES-256-GCM against the GCM
// specification's (NIST SP 800-38D) AES-256 test cases, and the per-connection
// channel: round trip, tampering, nonce reuse, another connection's challenge.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "agent/crypto.hpp"
#include "agent/protocol.hpp"

namespace ga = guestkit::agent;
namespace gc = guestkit::core;

namespace {

gc::Bytes hex(const std::string& text) {
  auto b = gc::hex_decode(text);
  REQUIRE(b);
  return *b;
}

ga::SecretBytes secret(const std::string& text) {
  return ga::SecretBytes(hex(text));
}

std::string as_text(const ga::SecretBytes& s) {
  return std::string(s.bytes().begin(), s.bytes().end());
}

}  // namespace

TEST_CASE("hkdf RFC 5869 test case 1", "[agent][crypto]") {
  auto okm = ga::hkdf_sha256(hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                             hex("000102030405060708090a0b0c"),
                             std::string("\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", 10), 42);
  REQUIRE(okm);
  CHECK(gc::hex_encode(okm->bytes()) ==
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("hkdf RFC 5869 test case 3 (empty salt and info)", "[agent][crypto]") {
  auto okm = ga::hkdf_sha256(hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), {}, "", 42);
  REQUIRE(okm);
  CHECK(gc::hex_encode(okm->bytes()) ==
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST_CASE("aes-256-gcm NIST vectors", "[agent][crypto]") {
  struct Case {
    const char* key;
    const char* iv;
    const char* plain;
    const char* aad;
    const char* cipher_and_tag;
  };
  const std::string k15 = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
  const std::string p64 =
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
      "b525"
      "b16aedf5aa0de657ba637b391aafd255";
  const std::string c64 =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b105682"
      "8838"
      "c5f61e6393ba7a0abcc9f662898015ad";
  const Case cases[] = {
      // test case 13: empty plaintext, the tag alone
      {"0000000000000000000000000000000000000000000000000000000000000000",
       "000000000000000000000000", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
      // test case 14: one zero block
      {"0000000000000000000000000000000000000000000000000000000000000000",
       "000000000000000000000000", "00000000000000000000000000000000", "",
       "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"},
  };
  for (const auto& c : cases) {
    const auto plain = hex(c.plain);
    auto sealed =
        ga::aes_gcm_seal(secret(c.key), hex(c.iv), std::string(plain.begin(), plain.end()));
    REQUIRE(sealed);
    CHECK(gc::hex_encode(*sealed) == c.cipher_and_tag);
    auto opened = ga::aes_gcm_open(secret(c.key), hex(c.iv), *sealed);
    REQUIRE(opened);
    CHECK(gc::hex_encode(opened->bytes()) == c.plain);
  }
  // test case 15: four blocks
  const auto plain = hex(p64);
  auto sealed = ga::aes_gcm_seal(secret(k15), hex("cafebabefacedbaddecaf888"),
                                 std::string(plain.begin(), plain.end()));
  REQUIRE(sealed);
  CHECK(gc::hex_encode(*sealed) == c64 + "b094dac5d93471bdec1a502270e3cc6c");
  // test case 16: 60 bytes with associated data
  const auto p60 = hex(p64.substr(0, 120));
  auto with_aad = ga::aes_gcm_seal(secret(k15), hex("cafebabefacedbaddecaf888"),
                                   std::string(p60.begin(), p60.end()),
                                   hex("feedfacedeadbeeffeedfacedeadbeefabaddad2"));
  REQUIRE(with_aad);
  CHECK(gc::hex_encode(*with_aad) == c64.substr(0, 120) + "76fc6ece0f4e1768cddf8853bb2d551b");
}

TEST_CASE("aes-256-gcm refuses any flipped bit", "[agent][crypto]") {
  const auto key = secret(std::string(64, 'a'));
  const auto nonce = hex("00112233445566778899aabb");
  auto sealed = ga::aes_gcm_seal(key, nonce, "the root password is hunter2");
  REQUIRE(sealed);
  for (std::size_t bit = 0; bit < sealed->size() * 8; bit += 7) {
    auto bad = *sealed;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    CHECK_FALSE(ga::aes_gcm_open(key, nonce, bad));
  }
  auto other_nonce = nonce;
  other_nonce[0] ^= 1;
  CHECK_FALSE(ga::aes_gcm_open(key, other_nonce, *sealed));
  CHECK_FALSE(ga::aes_gcm_open(key, nonce, gc::Bytes(sealed->begin(), sealed->begin() + 15)));
}

TEST_CASE("random bytes differ", "[agent][crypto]") {
  auto a = ga::random_bytes(32);
  auto b = ga::random_bytes(32);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->size() == 32);
  CHECK(*a != *b);
}

TEST_CASE("channel seals and opens in both directions", "[agent][protocol]") {
  auto key = ga::parse_key_text(std::string(64, 'c') + "\n");
  REQUIRE(key);
  auto challenge = ga::random_bytes(32);
  REQUIRE(challenge);
  auto agent = ga::Channel::create(ga::Channel::Role::agent, *key, *challenge);
  auto client = ga::Channel::create(ga::Channel::Role::client, *key, *challenge);
  REQUIRE(agent);
  REQUIRE(client);

  auto request = client->seal(R"({"id":1,"op":"info"})");
  REQUIRE(request);
  CHECK(request->find("info") == std::string::npos);
  auto envelope = nlohmann::json::parse(*request);
  REQUIRE(ga::is_envelope(envelope));
  auto plain = agent->open(envelope);
  REQUIRE(plain);
  CHECK(as_text(*plain) == R"({"id":1,"op":"info"})");

  SECTION("a nonce is accepted once") {
    auto again = agent->open(envelope);
    REQUIRE_FALSE(again);
    CHECK(again.error().context == "nonce reused on this connection");
  }
  SECTION("a flipped bit in the box fails") {
    auto fresh = nlohmann::json::parse(*client->seal("x"));
    auto box = *gc::base64_decode(fresh["box"].get<std::string>());
    box[0] ^= 0x01;
    fresh["box"] = gc::base64_encode(box);
    CHECK_FALSE(agent->open(fresh));
  }
  SECTION("responses use the other key, numbered nonces") {
    auto r1 = nlohmann::json::parse(*agent->seal("one"));
    auto r2 = nlohmann::json::parse(*agent->seal("two"));
    CHECK(r1["nonce"] == "000000000000000000000001");
    CHECK(r2["nonce"] == "000000000000000000000002");
    auto opened = client->open(r2);
    REQUIRE(opened);
    CHECK(as_text(*opened) == "two");
    // A response is no request: the agent cannot open its own direction.
    CHECK_FALSE(agent->open(r1));
  }
  SECTION("another connection (challenge) cannot open it") {
    auto other_challenge = ga::random_bytes(32);
    auto other = ga::Channel::create(ga::Channel::Role::agent, *key, *other_challenge);
    CHECK_FALSE(other->open(envelope));
  }
  SECTION("another key cannot open it") {
    auto other_key = ga::parse_key_text(std::string(64, 'd'));
    auto other = ga::Channel::create(ga::Channel::Role::agent, *other_key, *challenge);
    CHECK_FALSE(other->open(envelope));
  }
}

TEST_CASE("key text is 32 to 64 bytes of hex", "[agent][protocol]") {
  CHECK(ga::parse_key_text(std::string(64, 'a')));
  CHECK(ga::parse_key_text("  " + std::string(128, 'F') + "\r\n"));
  CHECK_FALSE(ga::parse_key_text(std::string(62, 'a')));
  CHECK_FALSE(ga::parse_key_text(std::string(130, 'a')));
  CHECK_FALSE(ga::parse_key_text(std::string(63, 'a') + "g"));
  CHECK_FALSE(ga::parse_key_text(""));
}

TEST_CASE("encoding hex and base64 are strict", "[agent][encoding]") {
  CHECK(gc::base64_encode(gc::Bytes{'f', 'o', 'o', 'b'}) == "Zm9vYg==");
  CHECK(gc::base64_decode("Zm9vYmFy") == gc::Bytes{'f', 'o', 'o', 'b', 'a', 'r'});
  CHECK(gc::base64_decode("Zm9vYg==") == gc::Bytes{'f', 'o', 'o', 'b'});
  CHECK_FALSE(gc::base64_decode("Zm9vYh=="));  // non-zero padding bits
  CHECK_FALSE(gc::base64_decode("Zm9vY"));
  CHECK_FALSE(gc::base64_decode("Zm=vYg=="));
  CHECK_FALSE(gc::base64_decode("Zm9v Yg="));
  CHECK(gc::hex_decode("00fFa0") == gc::Bytes{0, 255, 160});
  CHECK_FALSE(gc::hex_decode("0"));
  CHECK_FALSE(gc::hex_decode("zz"));
}
