// The in-swap seed's two layouts (normalise.hpp): guestkit/ (an order, the agent key,
// first-boot scripts) and the old platform's gandi/ (config JSON, init program).

#include "core/encoding.hpp"
#include "core/paths.hpp"
#include "plugins/seed/normalise.hpp"

namespace guestkit::plugins::seed::detail {
namespace {

using nlohmann::json;

core::Error bad(const std::string& file, const std::string& message) {
  return core::make_error(core::Errc::bad_input, file + ": " + message);
}

}  // namespace

core::Status read_guestkit_layout(SeedReader& r) {
  if (const auto* o = r.file("guestkit/order.json")) {
    auto doc = parse_json("guestkit/order.json", *o);
    if (!doc) return std::move(doc).error();
    if (!doc->is_object()) return bad("guestkit/order.json", "not a JSON object");
    if (doc->contains("instance_id")) {
      auto id = json_string(doc->at("instance_id"));
      if (!id) return bad("guestkit/order.json", "instance_id must be a string");
      r.out.instance_id = *id;
      doc->erase("instance_id");
    }
    if (doc->contains("force")) {
      doc->erase("force");
      r.out.not_applied.push_back(
          {"guestkit/order.json: force", "a seed is applied once per instance id"});
    }
    r.out.order = std::move(*doc);
    r.out.applied.push_back("guestkit/order.json");
  }
  if (const auto* k = r.file("guestkit/agent.key")) {
    if (auto ok = r.set_key("guestkit/agent.key", *k); !ok) return ok;
    r.out.applied.push_back("guestkit/agent.key");
  }
  const std::string prefix = "guestkit/postboot/";
  for (const auto& [name, content] : r.files->files) {
    if (!name.starts_with(prefix)) continue;
    r.used.insert(name);
    r.add_script(name.substr(prefix.size()), content);
    r.out.applied.push_back(name + ": a first-boot script");
  }
  for (const auto& [name, content] : r.files->files)
    if (name.starts_with("guestkit/modules/")) {
      r.used.insert(name);
      r.out.modules.push_back(name);  // installed by apply, for the running kernel only
    }
  return {};
}

// The old platform's gandi/config. Its public source was not available here: the
// fields read are the ones its platform API took (hostname, login, password, SSH
// key), under the names listed; every other field is reported.
core::Status read_gandi_layout(SeedReader& r) {
  if (const auto* c = r.file("gandi/config")) {
    auto doc = parse_json("gandi/config", *c);
    if (!doc) return std::move(doc).error();
    if (!doc->is_object()) return bad("gandi/config", "not a JSON object");
    json admin = json::object();
    std::vector<std::string> keys;
    for (const auto& [key, value] : doc->items()) {
      const std::string name = "gandi/config: " + key;
      auto s = json_string(value);
      if (key == "vm_hostname" || key == "hostname") {
        if (!s) return bad("gandi/config", key + " must be a string");
        r.out.order["hostname"] = *s;
      } else if (key == "user" || key == "login") {
        if (!s) return bad("gandi/config", key + " must be a string");
        admin["name"] = *s;
      } else if (key == "user_password" || key == "password") {
        if (!s) return bad("gandi/config", key + " must be a string");
        admin["password"] = *s;
      } else if (key == "root_password") {
        if (!s) return bad("gandi/config", key + " must be a string");
        r.out.order["root"]["password"] = *s;
      } else if (key == "ssh_key" || key == "ssh_keys" || key == "keys") {
        const json list = value.is_array() ? value : json::array({value});
        for (const auto& item : list) {
          auto line = json_string(item);
          if (!line) return bad("gandi/config", key + " must be key lines");
          std::size_t start = 0;
          for (;;) {
            const auto nl = line->find('\n', start);
            std::string l =
                line->substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.pop_back();
            if (!l.empty()) keys.push_back(l);
            if (nl == std::string::npos) break;
            start = nl + 1;
          }
        }
      } else {
        r.out.not_applied.push_back({name, "not a field guestkit reads from gandi/config"});
        continue;
      }
      r.out.applied.push_back(name);
    }
    if (admin.contains("name")) {
      admin["sudo"] = admin.contains("password") ? "password" : "nopasswd";
      if (!keys.empty()) admin["ssh_keys"] = keys;
      r.out.order["admin"] = admin;
    } else {
      if (admin.contains("password"))
        r.out.not_applied.push_back({"gandi/config: password", "no user is named"});
      if (!keys.empty()) r.out.order["root"]["ssh_keys"] = keys;
    }
  }
  if (const auto* init = r.file("gandi/init")) {
    // Run later with --postboot, as the old bootstrap did: a first-boot script that
    // writes the program to a private temporary file and runs it.
    std::vector<std::uint8_t> bytes(init->begin(), init->end());
    const std::string b64 = core::base64_encode(bytes);
    std::string script =
        "#!" + std::string(core::paths::kBinSh) +
        "\n"
        "# The old platform's gandi/init, run with --postboot as its bootstrap did.\n"
        "set -e\n"
        "prog=$(mktemp)\n"
        "trap 'rm -f \"$prog\"' EXIT\n"
        "base64 -d > \"$prog\" <<'GUESTKIT_GANDI_INIT'\n";
    for (std::size_t i = 0; i < b64.size(); i += 76) script += b64.substr(i, 76) + "\n";
    script +=
        "GUESTKIT_GANDI_INIT\n"
        "chmod 0700 \"$prog\"\n"
        "\"$prog\" --postboot\n";
    r.add_script("50-gandi-init", script);
    r.out.applied.push_back("gandi/init: run with --postboot at the first postboot stage");
  }
  for (const auto& [name, content] : r.files->files)
    if (name.starts_with("gandi/modules")) {
      r.used.insert(name);
      r.out.modules.push_back(name);  // installed by apply, for the running kernel only
    }
  return {};
}

}  // namespace guestkit::plugins::seed::detail
