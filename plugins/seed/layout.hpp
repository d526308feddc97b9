#pragma once
// What each seed layout may hold (the whitelist), the caps per member, and the name
// checks every reader applies before it reads a byte. Internal to plugins/seed.

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed::detail {

// Strips leading "./" and trailing "/" (tar and iso names come both ways).
std::string clean_name(std::string_view raw);
// Why a member name is unsafe, "" when it is not: empty, absolute, a ".." or "."
// component, an empty component, not valid UTF-8, a control character.
std::string unsafe_name(std::string_view name);
// The cap for member `name` of layout `kind`; nullopt when the layout does not name it
// (then it is not read at all).
std::optional<std::size_t> member_cap(SourceKind kind, std::string_view name);
// guestkit/... -> swap_guestkit, gandi/... -> swap_gandi.
std::optional<SourceKind> swap_layout_of(std::string_view name);
// The members of a layout that have fixed names (readers that must ask by name).
std::vector<std::string> fixed_members(SourceKind kind);

// Collects members into a SeedFiles, keeping the total cap and the refusal list short.
class Collector {
 public:
  Collector(SeedFiles& out) : out_(out) {}  // NOLINT: a view on `out`
  // Records a refusal; `name` is escaped for logs.
  void refuse(std::string_view name, std::string_view why);
  // Whether `bytes` more fit in the seed's total cap.
  bool fits(std::size_t bytes) const;
  // Whether a member of that name was already taken (or refused as a duplicate).
  bool seen(const std::string& name) const { return seen_.count(name) != 0; }
  void mark(const std::string& name) { seen_.insert(name); }
  void add(const std::string& name, std::string content);

 private:
  SeedFiles& out_;
  std::size_t total_ = 0;
  std::size_t refused_ = 0;
  std::set<std::string> seen_;
};

}  // namespace guestkit::plugins::seed::detail
