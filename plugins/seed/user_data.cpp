#include "plugins/seed/user_data.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "core/encoding.hpp"

namespace guestkit::plugins::seed {
namespace {

core::Error bad(const std::string& message) {
  return core::make_error(core::Errc::bad_input, "MIME: " + message);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// One line at `pos` (without its line break); pos moves past the break.
std::string_view next_line(std::string_view text, std::size_t& pos) {
  const std::size_t nl = text.find('\n', pos);
  std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
  pos = nl == std::string_view::npos ? text.size() : nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

struct Entity {
  std::map<std::string, std::string> headers;  // lower-case name -> unfolded value
  std::string_view body;
};

core::Result<Entity> parse_entity(std::string_view text) {
  Entity e;
  std::size_t pos = 0;
  std::string name;
  for (;;) {
    if (pos >= text.size()) return bad("the headers are not followed by a blank line");
    const std::string_view line = next_line(text, pos);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {  // folded continuation
      if (name.empty()) return bad("a continuation line before any header");
      e.headers[name] += " " + trim(line);
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return bad("a header line without a name");
    name = lower(std::string(line.substr(0, colon)));
    for (char c : name)
      if (c <= ' ' || c >= 0x7f) return bad("a header name with a space or control byte");
    if (e.headers.count(name)) return bad("the header " + name + " twice");
    e.headers[name] = trim(line.substr(colon + 1));
    if (e.headers.size() > 64) return bad("more than 64 headers");
  }
  e.body = text.substr(pos);
  return e;
}

struct ContentType {
  std::string type = "text/plain";  // RFC 2045's default
  std::map<std::string, std::string> params;
};

core::Result<ContentType> parse_content_type(const std::string& value) {
  ContentType ct;
  std::size_t i = value.find(';');
  ct.type = lower(trim(std::string_view(value).substr(0, i)));
  if (ct.type.find('/') == std::string::npos)
    return bad("Content-Type '" + ct.type + "' has no '/'");
  while (i != std::string::npos && i < value.size()) {
    ++i;  // past ';'
    const std::size_t eq = value.find('=', i);
    if (eq == std::string::npos) {
      if (trim(std::string_view(value).substr(i)).empty()) break;
      return bad("a Content-Type parameter without '='");
    }
    const std::string key = lower(trim(std::string_view(value).substr(i, eq - i)));
    std::size_t j = eq + 1;
    while (j < value.size() && (value[j] == ' ' || value[j] == '\t')) ++j;
    std::string v;
    if (j < value.size() && value[j] == '"') {
      ++j;
      for (; j < value.size() && value[j] != '"'; ++j) {
        if (value[j] == '\\' && j + 1 < value.size()) ++j;
        v += value[j];
      }
      if (j >= value.size()) return bad("an unterminated quoted Content-Type parameter");
      ++j;
      i = value.find(';', j);
      if (i != std::string::npos && !trim(std::string_view(value).substr(j, i - j)).empty())
        return bad("text after a quoted Content-Type parameter");
    } else {
      i = value.find(';', j);
      v = trim(std::string_view(value).substr(j, i == std::string::npos ? value.npos : i - j));
    }
    ct.params[key] = v;
  }
  return ct;
}

core::Result<std::string> decode_body(std::string_view body, const std::string& encoding,
                                      bool& unsupported) {
  const std::string cte = lower(encoding);
  if (cte.empty() || cte == "7bit" || cte == "8bit" || cte == "binary") return std::string(body);
  if (cte == "base64") {
    std::string compact;
    for (char c : body)
      if (c != '\r' && c != '\n' && c != ' ' && c != '\t') compact += c;
    auto bytes = core::base64_decode(compact);
    if (!bytes) return bad("a part's base64 does not decode");
    return std::string(bytes->begin(), bytes->end());
  }
  unsupported = true;
  return std::string();
}

// The type of a whole text by its first line, as cloud-init sniffs it.
UserDataPart sniff(std::string content, std::string label) {
  UserDataPart part;
  part.label = std::move(label);
  const std::string_view text = content;
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0x1f &&
      static_cast<unsigned char>(text[1]) == 0x8b) {
    part.why = "gzip-compressed user-data is not supported";
  } else if (starts_with_ci(text, "#cloud-config-archive")) {
    part.why = "#cloud-config-archive is not supported";
  } else if (starts_with_ci(text, "#cloud-config")) {
    part.type = UserDataPart::Type::cloud_config;
  } else if (text.starts_with("#!")) {
    part.type = UserDataPart::Type::script;
  } else if (text.starts_with("#include")) {
    part.why = "#include (user-data fetched from URLs) is not supported";
  } else if (text.starts_with("#cloud-boothook")) {
    part.why = "#cloud-boothook is not supported";
  } else if (text.starts_with("#part-handler")) {
    part.why = "#part-handler is not supported";
  } else if (text.starts_with("## template: jinja")) {
    part.why = "jinja templates are not supported";
  } else if (trim(text).empty()) {
    part.why = "empty";
  } else {
    part.why = "not #cloud-config, a #! script or MIME multipart";
  }
  if (part.type != UserDataPart::Type::unsupported) part.content = std::move(content);
  return part;
}

bool looks_like_mime(std::string_view text) {
  return starts_with_ci(text, "content-type:") || starts_with_ci(text, "mime-version:");
}

struct Splitter {
  std::vector<UserDataPart> out;
  std::size_t counted = 0;

  core::Status entity(std::string_view text, int depth, const std::string& label) {
    if (depth > kMaxMimeDepth)
      return bad("multipart nested deeper than " + std::to_string(kMaxMimeDepth));
    auto e = parse_entity(text);
    if (!e) return std::move(e).error();
    ContentType ct;
    if (auto it = e->headers.find("content-type"); it != e->headers.end()) {
      auto parsed = parse_content_type(it->second);
      if (!parsed) return std::move(parsed).error();
      ct = std::move(*parsed);
    }
    if (ct.type.starts_with("multipart/")) return multipart(e->body, ct, depth, label);
    if (++counted > kMaxMimeParts)
      return bad("more than " + std::to_string(kMaxMimeParts) + " parts");
    const std::string name = label.empty() ? ct.type : label + " (" + ct.type + ")";
    bool unsupported_encoding = false;
    const auto cte = e->headers.count("content-transfer-encoding")
                         ? e->headers.at("content-transfer-encoding")
                         : std::string();
    auto body = decode_body(e->body, cte, unsupported_encoding);
    if (!body) return std::move(body).error();
    UserDataPart part;
    part.label = name;
    if (unsupported_encoding) {
      part.why = "Content-Transfer-Encoding " + lower(cte) + " is not supported";
    } else if (ct.type == "text/cloud-config" || ct.type == "text/x-shellscript" ||
               ct.type == "text/plain" || ct.type == "text/x-not-multipart") {
      part = sniff(std::move(*body), name);
      if (ct.type == "text/cloud-config" && part.type == UserDataPart::Type::unsupported &&
          part.why.starts_with("not ")) {
        // make-mime writes the part without its #cloud-config line at times
        part.type = UserDataPart::Type::cloud_config;
        part.why.clear();
        auto again = decode_body(e->body, cte, unsupported_encoding);
        if (!again) return std::move(again).error();
        part.content = std::move(*again);
      }
      if (ct.type == "text/x-shellscript" && part.type != UserDataPart::Type::script) {
        part.type = UserDataPart::Type::unsupported;
        part.content.clear();
        part.why = "a text/x-shellscript part that does not start with #!";
      }
      if (ct.type == "text/cloud-config" && part.type == UserDataPart::Type::script) {
        part.type = UserDataPart::Type::unsupported;
        part.content.clear();
        part.why = "a text/cloud-config part that holds a script";
      }
    } else {
      part.why = ct.type + " parts are not supported";
    }
    out.push_back(std::move(part));
    return {};
  }

  core::Status multipart(std::string_view body, const ContentType& ct, int depth,
                         const std::string& label) {
    const auto b = ct.params.find("boundary");
    if (b == ct.params.end() || b->second.empty() || b->second.size() > 70)
      return bad(ct.type + " without a boundary of 1 to 70 characters");
    const std::string delimiter = "--" + b->second;
    const std::string close = delimiter + "--";
    std::size_t pos = 0;
    std::optional<std::size_t> part_start;
    int index = 0;
    const std::string prefix = label.empty() ? "MIME part " : label + ".";
    while (pos < body.size()) {
      const std::size_t line_start = pos;
      const std::string line = trim(next_line(body, pos));
      const bool is_close = line == close;
      if (!is_close && line != delimiter) continue;
      if (part_start) {
        // The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
        std::size_t end = line_start;
        if (end > *part_start && body[end - 1] == '\n') --end;
        if (end > *part_start && body[end - 1] == '\r') --end;
        if (auto ok = entity(body.substr(*part_start, end - *part_start), depth + 1,
                             prefix + std::to_string(++index));
            !ok)
          return ok;
      }
      if (is_close) return {};
      part_start = pos;
    }
    return bad("no closing boundary line " + close);
  }
};

}  // namespace

core::Result<std::vector<UserDataPart>> split_user_data(const std::string& data) {
  Splitter s;
  if (looks_like_mime(data)) {
    if (auto ok = s.entity(data, 0, ""); !ok) return std::move(ok).error();
  } else if (!trim(data).empty()) {
    s.out.push_back(sniff(data, ""));
  }
  return std::move(s.out);
}

}  // namespace guestkit::plugins::seed
