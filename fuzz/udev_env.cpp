// A udev event's environment (KEY=VALUE, as udev passes it to RUN+= programs): parsed
// or refused, never a crash; an accepted kernel name is one path component.

#include <map>
#include <string>

#include "core/udev_event.hpp"
#include "fuzz/fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::map<std::string, std::string> env;
  std::string_view rest = fuzz_text(data, size);
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const auto entry = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  auto event = guestkit::core::parse_udev_event(env);
  if (event) {
    auto name = guestkit::core::check_kernel_name(event->kernel_name());
    if (name) {
      FUZZ_CHECK(name->find('/') == std::string::npos);
      FUZZ_CHECK(*name != "." && *name != ".." && !name->empty());
    }
  }
  for (const auto& [k, v] : env) (void)guestkit::core::udev_decode(v);
  return 0;
}
