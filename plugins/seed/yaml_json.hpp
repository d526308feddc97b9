#pragma once
// YAML from a seed (NoCloud meta-data, #cloud-config user-data and vendor-data) as
// JSON, so every seed format is read by one code path. Outside data, so:
//
// * exactly one document (core/yaml_reader.hpp's guard against yaml-cpp's loops);
// * an alias bomb is refused before any tree is built: the event scan caps events
//   (kMaxYamlEvents) and aliases (kMaxYamlAliases), and the conversion caps the nodes
//   it visits (an alias is a shared node: a tree of nine aliases of nine would visit
//   387 million);
// * nesting is capped (kMaxYamlDepth);
// * types as PyYAML (YAML 1.1, what cloud-init reads) gives them for the keys we use:
//   plain true/false/yes/no/on/off in any usual case are booleans, ~/null/empty are
//   null; every other scalar stays a string (numbers too: an instance id "0012" keeps
//   its zeros); a quoted scalar is always a string.
//
// Errors name the line: "line 3, column 7: illegal map value".

#include <nlohmann/json.hpp>
#include <string>

#include "core/result.hpp"

namespace guestkit::plugins::seed {

inline constexpr std::size_t kMaxYamlEvents = 100000;
inline constexpr std::size_t kMaxYamlAliases = 256;
inline constexpr std::size_t kMaxYamlNodes = 100000;
inline constexpr int kMaxYamlDepth = 64;

core::Result<nlohmann::json> yaml_to_json(const std::string& text);

}  // namespace guestkit::plugins::seed
