#pragma once
// What every driver hands to plugins: where we act (Root), how (Config), and
// whether for real (dry_run).

#include <iosfwd>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/root.hpp"

namespace guestkit::core {

struct Context {
  Context(Root r, Config c) : root(std::move(r)), config(std::move(c)) {}

  Root root;
  Config config;
  bool dry_run = false;
  std::string program = "guestkit";
  std::ostream* out = nullptr;  // --list, --dry-run reports; std::cout when null

  std::ostream& output() const;
  // In dry-run mode, every change a plugin would make is reported here instead of
  // being made: "would write /etc/motd (132 bytes)".
  void would(std::string_view action) const;
};

}  // namespace guestkit::core
