#pragma once
// Entry points of the built-in plugins, one file each under plugins/builtin/.

#include "plugins/plugin.hpp"

namespace guestkit::plugins::builtin {

core::Result<Outcome> online_cpu(PluginContext& p);       // 10-online-cpu (online_cpu.cpp)
core::Result<Outcome> online_memory(PluginContext& p);    // 10-online-memory (online_memory.cpp)
core::Result<Outcome> set_motd(PluginContext& p);         // 13-set-motd
core::Result<Outcome> coldplug_cpus(PluginContext& p);    // 20-coldplug-cpus (online_cpu.cpp)
core::Result<Outcome> coldplug_memory(PluginContext& p);  // 21-coldplug-memory (online_memory.cpp)

}  // namespace guestkit::plugins::builtin
