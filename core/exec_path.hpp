#pragma once
// Internal to core/exec: where programs are found and what environment they get.

#include <string>
#include <string_view>
#include <vector>

#include "core/exec.hpp"

namespace guestkit::core::detail {

// "a:b:c" -> {"a", "b", "c"}.
std::vector<std::string> split_path(std::string_view list);
// argv[0] as execvp would find it, but in kSafePath only.
Result<std::string> lookup(const std::string& name);
// The child's whole environment: PATH, LC_ALL and ExecOptions::env, validated.
Result<std::vector<std::string>> build_env(const ExecOptions& options);

}  // namespace guestkit::core::detail
