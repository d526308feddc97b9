#pragma once
// Entry points of the built-in plugins, one file each under plugins/builtin/.

#include "plugins/plugin.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> set_motd(PluginContext& p);  // 13-set-motd

}  // namespace guestkit::plugins::builtin
