// Order validation: any JSON the platform could send as `provision` arguments is
// accepted whole or refused with a message; a refusal never quotes a password.

#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz.hpp"
#include "plugins/provision/order.hpp"

namespace {
// Every "password" string value in the document (at any depth).
void passwords(const nlohmann::json& j, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "password" && it.value().is_string()) out.push_back(it.value().get<std::string>());
      passwords(it.value(), out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) passwords(v, out);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(fuzz_text(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  auto order = guestkit::plugins::provision::parse_order(json);
  if (!order) {
    std::vector<std::string> secrets;
    passwords(json, secrets);
    const std::string message = order.error().message();
    for (const auto& s : secrets)
      if (s.size() >= 6) FUZZ_CHECK(message.find(s) == std::string::npos);
  }
  return 0;
}
