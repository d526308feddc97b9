#include "core/context.hpp"

#include <iostream>

namespace guestkit::core {

std::ostream& Context::output() const { return out ? *out : std::cout; }

void Context::would(std::string_view action) const { output() << "would " << action << '\n'; }

}  // namespace guestkit::core
