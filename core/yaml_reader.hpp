#pragma once
// Private to the config loader: strict reading of one YAML document with yaml-cpp 0.7.
//
// * load_one_document(): "exactly one document". YAML::Load reads the first document
//   and silently ignores whatever follows it, even a stray token (`[a],` loads as [a]);
//   YAML::LoadAll loops forever, allocating, on a token the parser never consumes (a
//   file that is just ","). So one pass with an event handler walks every document,
//   with a progress check, and only then is the first document built as a node tree.
// * MapReader: reads one map against a schema given as calls, rejecting duplicate and
//   unknown keys; Diagnostics collects every problem with its position.
// * Types follow YAML 1.2 (core schema), not yaml-cpp's YAML 1.1 leniency: only
//   true/false are booleans, so `motd: no` is an error instead of a silent guess.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/config_features.hpp"

namespace guestkit::core::detail {

// Why a text is not exactly one YAML document.
struct YamlProblem {
  YAML::Mark mark;
  std::string message;
};

// Walks documents without building nodes: where each starts, whether it has content.
class DocumentScan final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start_ = mark;
    content_ = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}  // an empty document
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { content_ = true; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    content_ = true;
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    content_ = true;
  }
  void OnMapEnd() override {}

  const YAML::Mark& start() const { return start_; }
  bool content() const { return content_; }

 private:
  YAML::Mark start_;
  bool content_ = false;
};

// The document of `text` (a null node when there is none), or why there is not
// exactly one. Syntax errors are thrown as YAML::ParserException, like YAML::Load.
inline std::variant<YAML::Node, YamlProblem> load_one_document(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentScan scan;
  int previous = -1;
  for (int index = 0; parser.HandleNextDocument(scan); ++index) {
    const YAML::Mark& mark = scan.start();
    if (mark.pos == previous) {
      // The parser started the same document again: it is stuck on a token it
      // cannot place (see above).
      const std::size_t at = mark.pos >= 0 ? static_cast<std::size_t>(mark.pos) : text.size();
      const char c = at < text.size() ? text[at] : '\0';
      return YamlProblem{mark, c > ' ' && c < 0x7f ? std::string("unexpected '") + c + "'"
                                                   : std::string("unexpected character")};
    }
    previous = mark.pos;
    if (index > 0 && scan.content())
      return YamlProblem{mark, "only one YAML document is allowed per file"};
  }
  return YAML::Load(text);
}

inline constexpr std::string_view kYamlStrTag = "tag:yaml.org,2002:str";
inline constexpr std::string_view kYamlBoolTag = "tag:yaml.org,2002:bool";

// Problems of one document, kept with their position so they can be reported in
// document order whatever order the decoders ran in.
class Diagnostics {
 public:
  void add(const YAML::Mark& mark, std::string message) {
    // yaml-cpp marks are 0-based, and -1 when it has no position at all.
    problems_.push_back(
        {std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1, std::move(message)});
  }
  bool empty() const { return problems_.empty(); }
  void flush(const std::string& name, std::vector<std::string>& out) {
    std::stable_sort(problems_.begin(), problems_.end(), [](const auto& a, const auto& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    for (const auto& p : problems_)
      out.push_back(name + ":" + std::to_string(p.line) + ":" + std::to_string(p.column) + ": " +
                    p.message);
  }

 private:
  struct Problem {
    int line;
    int column;
    std::string message;
  };
  std::vector<Problem> problems_;
};

inline std::string quote(std::string_view path) {
  // Appending (not "'" + std::string&&) dodges a GCC 12 -Wrestrict false positive.
  std::string out(1, '\'');
  out += printable(path, 100);
  out += '\'';
  return out;
}

// One key/value pair of a map, with the dotted path of the key for messages.
struct Entry {
  std::string key;
  std::string path;  // "disk.root"
  YAML::Node key_node;
  YAML::Node value;

  // A missing value (`root:`) has no position of its own (yaml-cpp marks it at the
  // next token, often on another line), so point at its key instead.
  YAML::Mark mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

inline bool is_quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == kYamlStrTag;
}

inline std::optional<bool> yaml12_bool(const YAML::Node& node) {
  if (!node.IsScalar() || (node.Tag() != "?" && node.Tag() != kYamlBoolTag)) return std::nullopt;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// A string in YAML 1.2 terms: quoted and block scalars, !!str, and plain scalars that
// are not booleans (yaml-cpp already turned plain nulls into null nodes). Numbers are
// kept as their text: `text: 42` is "42".
inline bool is_string(const YAML::Node& node) {
  if (!node.IsScalar()) return false;
  if (is_quoted(node)) return true;
  return node.Tag() == "?" && !yaml12_bool(node);
}

// Why a value is not a boolean, for the people who type `motd: no`.
inline std::string bool_hint(const YAML::Node& node) {
  if (!node.IsScalar()) return "";
  if (is_quoted(node)) return ", not a quoted string";
  return ", not '" + printable(node.Scalar()) + "'";
}

// Reads one YAML map against a schema given as calls: field/section/feature take the
// keys they know, finish() reports the rest as unknown.
class MapReader {
 public:
  // `node` is a map, or null for an empty section (`disk:` with everything commented).
  MapReader(Diagnostics& diag, const YAML::Node& node, std::string path)
      : diag_(diag), path_(std::move(path)) {
    if (!node.IsMap()) return;
    // By value: yaml-cpp's it->first is a reference into a temporary proxy.
    for (const auto& pair : node) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        diag_.add(key.Mark(), path_.empty() ? std::string("keys must be strings")
                                            : "keys of " + quote(path_) + " must be strings");
        continue;
      }
      const std::string path_of_key = path_.empty() ? key.Scalar() : path_ + "." + key.Scalar();
      const bool seen = std::any_of(entries_.begin(), entries_.end(),
                                    [&](const Entry& e) { return e.key == key.Scalar(); });
      if (seen) {
        // yaml-cpp keeps both pairs and would let one win silently; which one is luck.
        diag_.add(key.Mark(), "duplicate key " + quote(path_of_key));
        continue;
      }
      entries_.push_back({key.Scalar(), path_of_key, key, pair.second});
    }
    taken_.assign(entries_.size(), false);
  }

  // Decodes `key`, if present, into `target` with the decode() overload for its type.
  // Defined next to those overloads (config_yaml.cpp), so adding a type is local there.
  template <class Target>
  void field(std::string_view key, Target&& target);

  // A nested map of settings; `body` declares its keys on a reader for it.
  template <class Body>
  void section(std::string_view key, Body&& body) {
    const Entry* entry = take(key);
    if (!entry) return;
    if (!entry->value.IsMap() && !entry->value.IsNull()) {
      diag_.add(entry->mark(), quote(entry->path) + " must be a map");
      return;
    }
    MapReader reader(diag_, entry->value, entry->path);
    body(reader);
    reader.finish();
  }

  // A feature: `key: true|false`, shorthand for `key: {enabled: ...}`, or a map with
  // `enabled` and the keys `body` declares.
  template <class Body>
  void feature(std::string_view key, bool& enabled, Body&& body) {
    const Entry* entry = take(key);
    if (!entry) return;
    if (auto value = yaml12_bool(entry->value)) {
      enabled = *value;
      return;
    }
    if (!entry->value.IsMap() && !entry->value.IsNull()) {
      diag_.add(entry->mark(),
                quote(entry->path) + " must be true, false or a map" + bool_hint(entry->value));
      return;
    }
    MapReader reader(diag_, entry->value, entry->path);
    reader.field("enabled", enabled);
    body(reader);
    reader.finish();
  }
  void feature(std::string_view key, bool& enabled) {
    feature(key, enabled, [](MapReader&) {});
  }

  // Hands every entry not taken yet to `visit`: for maps whose keys are data.
  template <class Visit>
  void rest(Visit&& visit) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (taken_[i]) continue;
      taken_[i] = true;
      visit(entries_[i]);
    }
  }

  void finish() {
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (!taken_[i])
        diag_.add(entries_[i].key_node.Mark(), "unknown key " + quote(entries_[i].path));
  }

 private:
  const Entry* take(std::string_view key) {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (!taken_[i] && entries_[i].key == key) {
        taken_[i] = true;
        return &entries_[i];
      }
    }
    return nullptr;
  }

  Diagnostics& diag_;
  std::string path_;
  std::vector<Entry> entries_;
  std::vector<bool> taken_;
};

}  // namespace guestkit::core::detail
