#pragma once
// guestkit-seed show: the normalised order with every secret redacted, the agent
// key's source (never the key), what is applied and every key that is not, with why.

#include <string>

#include "plugins/seed/normalise.hpp"

namespace guestkit::plugins::seed {

std::string show_text(const Normalised& n, const std::string& instance_id);

}  // namespace guestkit::plugins::seed
