#pragma once
// A platform seed (source.hpp's SeedFiles, plus the SMBIOS agent key) turned into the
// agent's `provision` order (agent/PROTOCOL.md) and a report: what is applied, and
// every key that is not, by name, with why. Pure: nothing is read from or written to
// the system; parse_order/prepare_order then validate the order whole, before
// anything changes (apply.hpp).
//
// Sources and what they become:
//   guestkit/order.json        the order itself (`force` is dropped: a seed applies
//                              once per instance id); guestkit/agent.key the key;
//                              guestkit/postboot/NN-name first-boot scripts
//   gandi/config (JSON)        the old platform's: hostname, one user (admin form)
//                              with password and SSH keys, root's password;
//                              gandi/init becomes a first-boot script run with
//                              --postboot
//   NoCloud meta-data (YAML)   instance-id, local-hostname, public-keys,
//                              guestkit-agent-key
//   ConfigDrive meta_data.json uuid (instance id), hostname, public_keys,
//                              admin_pass (root's password), meta.guestkit_agent_key
//   user-data / user_data,     #cloud-config (the subset in cloud_config.cpp), #!
//   vendor-data                scripts, MIME multipart of those (user_data.hpp);
//                              vendor-data lies below user-data: a top-level key
//                              user-data gives replaces vendor-data's whole, vendor
//                              scripts run before user scripts, and user-data's
//                              `vendor_data: {enabled: false}` drops vendor-data
// The agent key: the seed's (guestkit/agent.key, meta-data guestkit-agent-key,
// meta.guestkit_agent_key), else SMBIOS's; hex, 32 to 64 bytes, as the agent reads it.

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "core/result.hpp"
#include "plugins/seed/source.hpp"

namespace guestkit::plugins::seed {

struct NotApplied {
  std::string key;  // "user-data: packages", "user-data: users[1].primary_group"
  std::string why;  // "not supported by guestkit"
};

struct NormaliseOptions {
  // The account cloud-config's "default" user, `password` and top-level
  // `ssh_authorized_keys` mean (cloud-config `user:` overrides it); "" for none.
  std::string default_user;
};

struct Normalised {
  std::optional<SourceKind> kind;  // none: only SMBIOS
  std::string origin;
  std::string instance_id;  // the seed's; "" when it names none
  // `provision` args without instance_id (apply adds it); an empty object when the
  // seed orders nothing. Holds plaintext passwords: never log it, print redacted().
  nlohmann::json order = nlohmann::json::object();
  std::optional<core::Secret> agent_key;  // hex text, checked
  std::string agent_key_source;           // "guestkit/agent.key", "SMBIOS", ...
  std::vector<std::string> applied;       // "user-data: hostname", ...
  std::vector<NotApplied> not_applied;
  std::vector<std::string> refused;  // the reader's refused members
  // Kernel modules tarballs of the swap layouts ("guestkit/modules/<release>.tar.xz"),
  // installed by apply (modules.hpp) when they are for the running kernel.
  std::vector<std::string> modules;
};

// Errc::bad_input naming the file (and line, for YAML) when a seed file is invalid:
// bad JSON or YAML, an alias bomb, malformed MIME, a bad agent key.
core::Result<Normalised> normalise(const SeedFiles* files, const SmbiosSeed& smbios,
                                   const NormaliseOptions& options = {});

// The order with every secret replaced by "<redacted>" and each script by its size.
nlohmann::json redacted(const nlohmann::json& order);

const char* kind_name(SourceKind kind);  // "nocloud", "configdrive", "swap-guestkit"...

namespace detail {
// cloud_config.cpp: a merged #cloud-config mapping plus meta-data facts into the order
// parts (`out.order`), with the report. `origin` names where each top-level key came
// from ("user-data", "vendor-data").
struct CloudInput {
  nlohmann::json config = nlohmann::json::object();
  std::map<std::string, std::string> origin;
  std::vector<std::string> meta_keys;        // meta-data public keys
  std::optional<std::string> meta_hostname;  // meta-data local-hostname
  std::string default_user;
};
void translate_cloud_config(const CloudInput& in, Normalised& out);

// Seed members as normalise() reads them: each one read is remembered, so the members
// nothing read are reported.
struct SeedReader {
  const SeedFiles* files;
  std::set<std::string>& used;
  Normalised& out;
  const std::string* file(const std::string& name);
  // The agent key from `source`: hex, 32 to 64 bytes (Errc::bad_input otherwise).
  core::Status set_key(const std::string& source, const nlohmann::json& value);
  void add_script(const std::string& name, const std::string& script);
};
// swap_layouts.cpp
core::Status read_guestkit_layout(SeedReader& r);
core::Status read_gandi_layout(SeedReader& r);
// normalise.cpp: JSON with a nesting cap, errors naming line and column only.
core::Result<nlohmann::json> parse_json(const std::string& file, const std::string& text);
core::Result<core::Secret> check_key(const std::string& source, const std::string& text);
std::optional<std::string> json_string(const nlohmann::json& v);  // a string, or a number's text
// "#!/bin/sh\n" + each runcmd entry (a string as is, a list shell-quoted).
std::optional<std::string> runcmd_script(const nlohmann::json& runcmd, std::string& problem);
}  // namespace detail

}  // namespace guestkit::plugins::seed
