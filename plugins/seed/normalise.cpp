#include "plugins/seed/normalise.hpp"

#include <algorithm>
#include <set>

#include "core/encoding.hpp"
#include "plugins/seed/user_data.hpp"
#include "plugins/seed/yaml_json.hpp"

namespace guestkit::plugins::seed {
namespace {

using nlohmann::json;

core::Error bad(const std::string& file, const std::string& message) {
  return core::make_error(core::Errc::bad_input, file + ": " + message);
}

}  // namespace

namespace detail {

constexpr int kMaxJsonDepth = 64;

// JSON from a seed: the nesting is checked before nlohmann builds (and later frees,
// recursively) a tree; errors give the line and column, never the text around them
// (nlohmann's own message quotes it, and it may be a password).
core::Result<json> parse_json(const std::string& file, const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return bad(file, "JSON nested deeper than 64 levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n')
        ++line, column = 1;
      else
        ++column;
    }
    return bad(file, "invalid JSON at line " + std::to_string(line) + ", column " +
                         std::to_string(column));
  }
}

std::optional<std::string> json_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

// Hex, 32 to 64 bytes: what the agent's key file holds (agent/PROTOCOL.md).
core::Result<core::Secret> check_key(const std::string& source, const std::string& text) {
  std::string_view t = text;
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!t.empty() && blank(t.front())) t.remove_prefix(1);
  while (!t.empty() && blank(t.back())) t.remove_suffix(1);
  auto bytes = core::hex_decode(t);
  const bool ok = bytes && bytes->size() >= 32 && bytes->size() <= 64;
  if (bytes) std::fill(bytes->begin(), bytes->end(), 0);
  if (!ok) return bad(source, "the agent key must be 32 to 64 bytes written as hex");
  return core::Secret(std::string(t) + "\n");
}

const std::string* SeedReader::file(const std::string& name) {
  auto it = files->files.find(name);
  if (it == files->files.end()) return nullptr;
  used.insert(name);
  return &it->second;
}

core::Status SeedReader::set_key(const std::string& source, const json& value) {
  auto text = json_string(value);
  if (!text) return bad(source, "the agent key must be a string of hex digits");
  auto key = check_key(source, *text);
  if (!key) return std::move(key).error();
  out.agent_key = std::move(*key);
  out.agent_key_source = source;
  return {};
}

void SeedReader::add_script(const std::string& name, const std::string& script) {
  out.order["postboot"].push_back({{"name", name}, {"script", script}});
}

}  // namespace detail

namespace {

using detail::check_key;
using detail::json_string;
using detail::parse_json;

class Builder {
 public:
  Builder(const SeedFiles* files, const NormaliseOptions& options, Normalised& out)
      : files_(files), options_(options), out_(out) {}

  core::Status run() {
    if (!files_) return {};
    switch (files_->kind) {
      case SourceKind::swap_guestkit:
        if (auto ok = detail::read_guestkit_layout(reader_); !ok) return ok;
        break;
      case SourceKind::swap_gandi:
        if (auto ok = detail::read_gandi_layout(reader_); !ok) return ok;
        break;
      case SourceKind::nocloud:
        if (auto ok = nocloud(); !ok) return ok;
        break;
      case SourceKind::configdrive:
        if (auto ok = configdrive(); !ok) return ok;
        break;
    }
    for (const auto& [name, content] : files_->files)
      if (!used_.count(name))
        out_.not_applied.push_back({name, "not a file guestkit reads from a " +
                                              std::string(kind_name(files_->kind)) + " seed"});
    return {};
  }

 private:
  const SeedFiles* files_;
  const NormaliseOptions& options_;
  Normalised& out_;
  std::set<std::string> used_;
  detail::SeedReader reader_{files_, used_, out_};
  detail::CloudInput cloud_;
  bool has_cloud_ = false;
  int vendor_scripts_ = 0;
  int user_scripts_ = 0;

  const std::string* file(const std::string& name) { return reader_.file(name); }
  core::Status set_key(const std::string& source, const json& value) {
    return reader_.set_key(source, value);
  }
  void add_script(const std::string& name, const std::string& script) {
    reader_.add_script(name, script);
  }

  // user-data or vendor-data (`label`): its cloud-config parts merged key by key
  // (a later part replaces a key), its scripts queued, the rest reported.
  core::Status user_data(const std::string& label, const std::string& text, bool vendor) {
    auto parts = split_user_data(text);
    if (!parts) return bad(label, parts.error().context);
    json merged = json::object();
    for (const auto& part : *parts) {
      const std::string where = part.label.empty() ? label : label + " " + part.label;
      switch (part.type) {
        case UserDataPart::Type::cloud_config: {
          auto doc = yaml_to_json(part.content);
          if (!doc) return bad(where, doc.error().context);
          if (doc->is_null()) continue;
          if (!doc->is_object())
            return bad(where, "line 1: the #cloud-config document is not a map");
          for (auto& [key, value] : doc->items()) merged[key] = value;
          break;
        }
        case UserDataPart::Type::script: {
          int& n = vendor ? vendor_scripts_ : user_scripts_;
          const std::string base = vendor ? "40-vendor-data" : "50-user-data";
          add_script(n == 0 ? base : base + "-" + std::to_string(n + 1), part.content);
          ++n;
          out_.applied.push_back(where + ": a first-boot script");
          break;
        }
        case UserDataPart::Type::unsupported:
          out_.not_applied.push_back({where, part.why});
          break;
      }
    }
    for (auto& [key, value] : merged.items()) {
      if (vendor && cloud_.config.contains(key)) {  // user-data's wins, whole
        out_.not_applied.push_back({"vendor-data: " + key, "user-data gives " + key});
        continue;
      }
      cloud_.config[key] = value;
      cloud_.origin[key] = label;
    }
    has_cloud_ = true;
    return {};
  }

  // vendor-data below user-data: user-data first, so its keys are known.
  core::Status user_and_vendor(const std::string& user_name, const std::string& vendor_name) {
    if (const auto* u = file(user_name))
      if (auto ok = user_data("user-data", *u, false); !ok) return ok;
    if (const auto* v = vendor_name.empty() ? nullptr : file(vendor_name)) {
      const json& vd =
          cloud_.config.contains("vendor_data") ? cloud_.config.at("vendor_data") : json();
      if (vd.is_object() && vd.contains("enabled") && vd.at("enabled").is_boolean() &&
          !vd.at("enabled").get<bool>()) {
        out_.not_applied.push_back({"vendor-data", "user-data says vendor_data: {enabled: false}"});
      } else {
        if (auto ok = user_data("vendor-data", *v, true); !ok) return ok;
        if (cloud_.config.contains("vendor_data")) out_.applied.push_back("user-data: vendor_data");
      }
    }
    return {};
  }

  void finish_cloud() {
    if (!has_cloud_ && cloud_.meta_keys.empty() && !cloud_.meta_hostname) return;
    cloud_.default_user = options_.default_user;
    detail::translate_cloud_config(cloud_, out_);
  }

  core::Status nocloud() {
    if (const auto* m = file("meta-data")) {
      auto doc = yaml_to_json(*m);
      if (!doc) return bad("meta-data", doc.error().context);
      if (!doc->is_null() && !doc->is_object()) return bad("meta-data", "line 1: not a map");
      if (doc->is_object()) {
        for (const auto& [key, value] : doc->items()) {
          const std::string name = "meta-data: " + key;
          if (key == "instance-id") {
            auto id = json_string(value);
            if (!id) return bad("meta-data", "instance-id must be a string");
            out_.instance_id = *id;
            out_.applied.push_back(name);
          } else if (key == "local-hostname") {
            auto host = json_string(value);
            if (!host)
              out_.not_applied.push_back({name, "must be a string"});
            else
              cloud_.meta_hostname = host;
          } else if (key == "public-keys") {
            if (auto ok = meta_keys(name, value); !ok) return ok;
          } else if (key == "guestkit-agent-key") {
            if (auto ok = set_key("meta-data guestkit-agent-key", value); !ok) return ok;
            out_.applied.push_back(name);
          } else {
            out_.not_applied.push_back({name, "not supported by guestkit"});
          }
        }
      }
    }
    if (file("network-config"))
      out_.not_applied.push_back({"network-config", "guestkit-iface configures NICs by DHCP"});
    if (auto ok = user_and_vendor("user-data", "vendor-data"); !ok) return ok;
    finish_cloud();
    return {};
  }

  // public-keys / public_keys: a key line, a list of them, or a map of name -> key(s).
  core::Status meta_keys(const std::string& name, const json& value) {
    std::vector<std::string> keys;
    auto add = [&](const json& v) {
      if (auto s = json_string(v)) {
        keys.push_back(*s);
        return true;
      }
      if (!v.is_array()) return false;
      for (const auto& item : v) {
        auto s = json_string(item);
        if (!s) return false;
        keys.push_back(*s);
      }
      return true;
    };
    bool ok = true;
    if (value.is_object())
      for (const auto& [k, v] : value.items()) ok = ok && add(v);
    else
      ok = add(value);
    if (!ok) {
      out_.not_applied.push_back({name, "must be key lines, a list or a map of them"});
      return {};
    }
    // One key line per entry: a value may hold several lines.
    for (const auto& k : keys) {
      std::size_t start = 0;
      while (start <= k.size()) {
        const auto nl = k.find('\n', start);
        std::string line =
            k.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) cloud_.meta_keys.push_back(line);
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    }
    out_.applied.push_back(name);
    return {};
  }

  core::Status configdrive() {
    const std::string meta_name = "openstack/latest/meta_data.json";
    std::optional<std::string> admin_pass;
    if (const auto* m = file(meta_name)) {
      auto doc = parse_json(meta_name, *m);
      if (!doc) return std::move(doc).error();
      if (!doc->is_object()) return bad(meta_name, "not a JSON object");
      for (const auto& [key, value] : doc->items()) {
        const std::string name = meta_name + ": " + key;
        if (key == "uuid") {
          auto id = json_string(value);
          if (!id) return bad(meta_name, "uuid must be a string");
          out_.instance_id = *id;
          out_.applied.push_back(name);
        } else if (key == "hostname") {
          auto host = json_string(value);
          if (!host)
            out_.not_applied.push_back({name, "must be a string"});
          else
            cloud_.meta_hostname = host;
        } else if (key == "public_keys") {
          if (auto ok = meta_keys(name, value); !ok) return ok;
        } else if (key == "keys") {
          out_.not_applied.push_back({name, "public_keys is read instead"});
        } else if (key == "admin_pass") {
          admin_pass = json_string(value);
          if (!admin_pass) out_.not_applied.push_back({name, "must be a string"});
        } else if (key == "meta" && value.is_object()) {
          for (const auto& [mk, mv] : value.items()) {
            if (mk == "guestkit_agent_key") {
              if (auto ok = set_key(meta_name + " meta.guestkit_agent_key", mv); !ok) return ok;
              out_.applied.push_back(name + ".guestkit_agent_key");
            } else {
              out_.not_applied.push_back({name + "." + mk, "not supported by guestkit"});
            }
          }
        } else {
          out_.not_applied.push_back({name, "not supported by guestkit"});
        }
      }
    }
    if (auto ok = user_and_vendor("openstack/latest/user_data", ""); !ok) return ok;
    finish_cloud();
    if (admin_pass) {
      json& root = out_.order["root"];
      if (root.is_object() && (root.contains("password") || root.contains("password_hash"))) {
        out_.not_applied.push_back({meta_name + ": admin_pass", "user-data sets root's password"});
      } else {
        root["password"] = *admin_pass;
        out_.applied.push_back(meta_name + ": admin_pass (root's password)");
      }
    }
    return {};
  }
};

bool secret_field(const std::string& key) {
  return key == "password" || key == "password_hash";
}

json redact(const json& v, const std::string& key) {
  if (secret_field(key)) return "<redacted>";
  if (key == "script" && v.is_string())
    return "<" + std::to_string(v.get<std::string>().size()) + " bytes>";
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, item] : v.items()) out[k] = redact(item, k);
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& item : v) out.push_back(redact(item, ""));
    return out;
  }
  return v;
}

}  // namespace

const char* kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::swap_guestkit:
      return "swap-guestkit";
    case SourceKind::swap_gandi:
      return "swap-gandi";
    case SourceKind::nocloud:
      return "nocloud";
    case SourceKind::configdrive:
      return "configdrive";
  }
  return "?";
}

json redacted(const json& order) {
  return redact(order, "");
}

core::Result<Normalised> normalise(const SeedFiles* files, const SmbiosSeed& smbios,
                                   const NormaliseOptions& options) {
  Normalised out;
  if (files) {
    out.kind = files->kind;
    out.origin = files->origin;
    out.refused = files->refused;
  }
  Builder builder(files, options, out);
  if (auto ok = builder.run(); !ok) return std::move(ok).error();
  if (smbios.agent_key_hex) {
    if (out.agent_key) {
      out.not_applied.push_back({"SMBIOS io.guestkit.agent-key",
                                 "the seed's own key (" + out.agent_key_source + ") is used"});
    } else {
      auto key = check_key("SMBIOS io.guestkit.agent-key", *smbios.agent_key_hex);
      if (!key) return std::move(key).error();
      out.agent_key = std::move(*key);
      out.agent_key_source = "SMBIOS io.guestkit.agent-key";
      out.applied.push_back("SMBIOS io.guestkit.agent-key");
    }
  }
  return out;
}

}  // namespace guestkit::plugins::seed
