#include "plugins/seed/yaml_json.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

namespace guestkit::plugins::seed {
namespace {

using nlohmann::json;

core::Error at(const YAML::Mark& mark, const std::string& message) {
  return core::make_error(core::Errc::bad_input,
                          "line " + std::to_string(std::max(mark.line, 0) + 1) + ", column " +
                              std::to_string(std::max(mark.column, 0) + 1) + ": " + message);
}

// Counts what the parser produces, without building nodes.
class Scan final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    content = false;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override { ++events; }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    ++events;
    if (++aliases == kMaxYamlAliases + 1) first_excess_alias = mark;
    content = true;
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {
    ++events;
    content = true;
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnSequenceEnd() override { --depth; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(mark);
  }
  void OnMapEnd() override { --depth; }

  YAML::Mark start;
  bool content = false;
  std::size_t events = 0;
  std::size_t aliases = 0;
  int depth = 0;
  int max_depth = 0;
  YAML::Mark deepest;
  YAML::Mark first_excess_alias;

 private:
  void open(const YAML::Mark& mark) {
    ++events;
    content = true;
    if (++depth > max_depth) {
      max_depth = depth;
      deepest = mark;
    }
  }
};

bool is_bool(const std::string& s, bool& value) {
  static const char* const kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
  static const char* const kFalse[] = {"false", "False", "FALSE", "no", "No",
                                       "NO",    "off",   "Off",   "OFF"};
  for (const char* t : kTrue)
    if (s == t) return value = true, true;
  for (const char* f : kFalse)
    if (s == f) return value = false, true;
  return false;
}

struct Converter {
  std::size_t visited = 0;

  core::Result<json> convert(const YAML::Node& node, int depth) {
    if (++visited > kMaxYamlNodes)
      return at(node.Mark(), "more than " + std::to_string(kMaxYamlNodes) +
                                 " nodes once aliases are expanded (an alias bomb?): refused");
    if (depth > kMaxYamlDepth) return at(node.Mark(), "nested too deeply");
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar: {
        const std::string& s = node.Scalar();
        if (node.Tag() != "!") {  // plain (not quoted)
          bool b = false;
          if (is_bool(s, b)) return json(b);
          if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty())
            return json(nullptr);
        }
        return json(s);
      }
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node) {
          auto v = convert(item, depth + 1);
          if (!v) return v;
          out.push_back(std::move(*v));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) return at(kv.first.Mark(), "a map key must be a plain value");
          const std::string key = kv.first.Scalar();
          if (out.contains(key)) return at(kv.first.Mark(), "duplicate key '" + key + "'");
          auto v = convert(kv.second, depth + 1);
          if (!v) return v;
          out[key] = std::move(*v);
        }
        return out;
      }
    }
    return json(nullptr);
  }
};

}  // namespace

core::Result<json> yaml_to_json(const std::string& text) {
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    Scan scan;
    int previous = -1;
    for (int index = 0; parser.HandleNextDocument(scan); ++index) {
      if (scan.start.pos == previous)  // the parser is stuck on a token it cannot place
        return at(scan.start, "unexpected character");
      previous = scan.start.pos;
      if (index > 0 && scan.content)
        return at(scan.start, "a second YAML document: only one is allowed");
      if (scan.events > kMaxYamlEvents)
        return at(scan.start, "more than " + std::to_string(kMaxYamlEvents) + " values: refused");
    }
    if (scan.aliases > kMaxYamlAliases)
      return at(scan.first_excess_alias,
                "more than " + std::to_string(kMaxYamlAliases) + " aliases: refused");
    if (scan.max_depth > kMaxYamlDepth) return at(scan.deepest, "nested too deeply");
    const YAML::Node root = YAML::Load(text);
    Converter converter;
    return converter.convert(root, 0);
  } catch (const YAML::Exception& e) {
    return at(e.mark, e.msg);
  }
}

}  // namespace guestkit::plugins::seed
