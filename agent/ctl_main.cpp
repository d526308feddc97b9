// guestkit-ctl: seals orders for guestkit-agent and prints the answers.

#include <variant>

#include "agent/ctl.hpp"

int main(int argc, char** argv) {
  namespace ga = guestkit::agent;
  auto parsed = guestkit::core::parse_cli(ga::ctl_tool(), argc, argv);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  return ga::run_ctl(std::get<guestkit::core::CliArgs>(parsed));
}
