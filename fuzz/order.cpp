// Order validation: any JSON the platform could send as `provision` arguments is
// accepted whole or refused with a message; a refusal never quotes a password.
//
// "Quotes" is tested by flow, not by coincidence: every password (and password_hash)
// value is replaced by a marker, and the refusal must not contain the marker. (A first
// version looked for the fuzzer's own password text in the message, and the fuzzer
// duly made a password out of words of the message: "ce id must be 1..128 "; then it
// wrote the marker itself into a field name.) Two markers of one shape are tried, so
// the order's path is the same for both.

#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/provision/order.hpp"

namespace {
// Replaces every "password" and "password_hash" string value (at any depth) with
// `marker`; true if there was one.
bool mark(nlohmann::json& j, const std::string& marker) {
  bool any = false;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if ((it.key() == "password" || it.key() == "password_hash") && it.value().is_string()) {
        it.value() = marker;
        any = true;
      } else {
        any |= mark(it.value(), marker);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) any |= mark(v, marker);
  }
  return any;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(fuzz_text(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  (void)guestkit::plugins::provision::parse_order(json);
  for (const std::string marker : {"Qz7wK2pX9mVr4tLs", "Jh3nB8cY5dFg6kPe"}) {
    auto marked = json;
    if (!mark(marked, marker)) return 0;
    // The fuzzer learns the markers from the comparisons below and writes them into
    // other fields (a field name the refusal rightly quotes): such an input proves
    // nothing about passwords, so the marker must appear nowhere else in it.
    auto blanked = json;
    mark(blanked, "");
    if (blanked.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).find(marker) !=
        std::string::npos)
      continue;
    auto order = guestkit::plugins::provision::parse_order(marked);
    if (!order) FUZZ_CHECK(order.error().message().find(marker) == std::string::npos);
  }
  return 0;
}
