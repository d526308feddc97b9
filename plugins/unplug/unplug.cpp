// prepare-unplug: see unplug.hpp.

#include "plugins/unplug/unplug.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/log.hpp"
#include "core/paths.hpp"

namespace guestkit::plugins::unplug {
namespace {

using nlohmann::json;

constexpr std::string_view kState = "state";
constexpr std::string_view kValidZones = "valid_zones";
constexpr std::string_view kPhysIndex = "phys_index";
constexpr std::string_view kRemovable = "removable";
constexpr std::string_view kBlockSize = "block_size_bytes";
constexpr std::string_view kOnline = "online";

core::Error bad(std::string message) {
  return core::make_error(core::Errc::bad_input, std::move(message));
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

core::Status do_write(const Writer& write, const sysfs::Dir& dir, std::string_view attr,
                      std::string_view value) {
  return write ? write(dir, attr, value) : dir.write(attr, value);
}

// sysfs::Dir::write reports the kernel's errno in the system category (errno_error);
// std::errc values are the generic one. Anything else is not the kernel's answer.
int error_errno(const core::Error& e) {
  const auto& cat = e.code.category();
  return cat == std::system_category() || cat == std::generic_category() ? e.code.value() : 0;
}

json refusal(const std::string& part, const core::Error& e) {
  const int err = error_errno(e);
  return {{"state", "refused"},
          {"part", part},
          {"errno", err ? errno_name(err) : "failed"},
          {"reason", err ? std::string(std::strerror(err)) : e.message()}};
}

struct Block {
  unsigned id = 0;
  std::uint64_t start = 0;
  std::string state;
  std::string zones;  // valid_zones of an online block: its zone ("Movable", "Normal")
  bool removable = false;
  std::optional<sysfs::Dir> dir;
};

bool is_online(std::string_view state) {
  return state.rfind("online", 0) == 0;
}
bool movable(const Block& b) {
  if (!b.zones.empty()) return b.zones.find("Movable") != std::string::npos;
  return b.removable;
}
// Back into the zone it was in, so a rollback leaves the layout as it found it.
std::string_view online_state(const Block& b) {
  if (b.zones.empty()) return "online";
  return movable(b) ? "online_movable" : "online_kernel";
}

struct Memory {
  sysfs::Dir dir;
  std::uint64_t block_size = 0;
  std::vector<Block> blocks;  // ascending address
};

core::Result<Memory> read_memory(const core::Context& ctx) {
  auto dir = sysfs::Dir::open(ctx.root, core::paths::kSysMemoryDir);
  if (!dir) return std::move(dir).error();
  auto size = dir->read(kBlockSize);
  if (!size) return std::move(size).error();
  auto bs = *size ? sysfs::parse_hex_u64(**size) : std::nullopt;
  if (!bs || *bs == 0)
    return core::make_error(core::Errc::failed,
                            dir->display(kBlockSize) + " is missing or unreadable");
  Memory m{std::move(dir).value(), *bs, {}};
  auto names = ctx.root.list_dir(core::paths::kSysMemoryDir, core::Follow::never);
  if (!names) return std::move(names).error();
  for (unsigned id : sysfs::indexed(*names, "memory")) {
    auto child = m.dir.child("memory" + std::to_string(id));
    if (!child) return std::move(child).error();
    Block b;
    b.id = id;
    auto state = child->read(kState);
    if (!state) return std::move(state).error();
    b.state = state->value_or("");
    auto phys = child->read(kPhysIndex);
    const auto index = phys && *phys ? sysfs::parse_hex_u64(**phys) : std::nullopt;
    b.start = (index ? *index : id) * m.block_size;
    if (is_online(b.state)) {
      auto zones = child->read(kValidZones);
      if (zones && *zones) b.zones = **zones;
      auto rem = child->read(kRemovable);
      b.removable = rem && *rem && **rem == "1";
    }
    b.dir.emplace(std::move(child).value());
    m.blocks.push_back(std::move(b));
  }
  std::sort(m.blocks.begin(), m.blocks.end(),
            [](const Block& a, const Block& b) { return a.start < b.start; });
  return m;
}

// Onlines again, last offlined first, what this call offlined. Returns the blocks that
// stayed offline (the kernel refused again), for the answer.
json roll_back(const core::Context& ctx, const std::vector<Block*>& done, const Writer& write) {
  json failed = json::array();
  for (auto it = done.rbegin(); it != done.rend(); ++it) {
    Block& b = **it;
    if (ctx.dry_run) continue;
    if (auto ok = do_write(write, *b.dir, kState, online_state(b)); !ok) {
      core::log_debug("memory", b.id, ": cannot online again: ", ok.error().message());
      failed.push_back("memory" + std::to_string(b.id));
    }
  }
  return failed;
}

std::vector<unsigned> ids_of(const std::vector<Block*>& blocks) {
  std::vector<unsigned> ids;
  for (const auto* b : blocks) ids.push_back(b->id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Offlines one block; the Error is the kernel's refusal.
core::Status offline(const core::Context& ctx, Block& b, const Writer& write) {
  if (ctx.dry_run) {
    ctx.would("write offline to " + b.dir->display(kState));
    return {};
  }
  return do_write(write, *b.dir, kState, "offline");
}

json ready_memory(const Memory& m, const std::vector<Block*>& done, std::size_t already) {
  const auto ids = ids_of(done);
  return {{"state", "ready"},
          {"blocks", sysfs::format_ranges("memory", ids)},
          {"offlined", ids.size()},
          {"already_offline", already},
          {"bytes", (ids.size() + already) * m.block_size},
          {"block_size", m.block_size}};
}

}  // namespace

std::string errno_name(int err) {
  switch (err) {
    case EBUSY:
      return "EBUSY";
    case EINVAL:
      return "EINVAL";
    case EAGAIN:
      return "EAGAIN";
    case ENOMEM:
      return "ENOMEM";
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case EIO:
      return "EIO";
    case ENOENT:
      return "ENOENT";
    case EINTR:
      return "EINTR";
    case ENODEV:
      return "ENODEV";
    case ENXIO:
      return "ENXIO";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    default:
      return "E" + std::to_string(err);
  }
}

core::Result<std::uint64_t> parse_bytes(const json& value, std::string_view field) {
  const std::string f(field);
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (!value.is_string())
    return bad(f + ": want a byte count, e.g. 536870912, \"512M\" or \"0x20000000\"");
  const std::string text = value.get<std::string>();
  if (text.empty() || text.size() > 32) return bad(f + ": want a byte count");
  std::uint64_t v = 0;
  const char* p = text.data();
  const char* end = text.data() + text.size();
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    p += 2;
  }
  const auto [stop, ec] = std::from_chars(p, end, v, base);
  if (ec != std::errc{} || stop == p)
    return bad(f + ": '" + core::sanitize_for_log(text) + "' is not a byte count");
  std::string suffix(stop, end);
  unsigned shift = 0;
  if (base == 10 && !suffix.empty()) {
    static const std::pair<const char*, unsigned> kSuffixes[] = {
        {"K", 10}, {"KiB", 10}, {"M", 20}, {"MiB", 20},
        {"G", 30}, {"GiB", 30}, {"T", 40}, {"TiB", 40}};
    bool known = false;
    for (const auto& [s, sh] : kSuffixes)
      if (suffix == s) {
        shift = sh;
        known = true;
      }
    if (!known)
      return bad(f + ": unknown size suffix '" + core::sanitize_for_log(suffix) + "' (K, M, G, T)");
  } else if (!suffix.empty()) {
    return bad(f + ": '" + core::sanitize_for_log(text) + "' is not a byte count");
  }
  if (shift && v > (UINT64_MAX >> shift)) return bad(f + ": too large");
  return v << shift;
}

core::Result<Request> parse_request(const json& args) {
  if (!args.is_object()) return bad("args must be an object");
  for (const auto& [key, value] : args.items())
    if (key != "memory" && key != "cpu") return bad(key.substr(0, 64) + ": unknown field");
  const bool mem = args.contains("memory"), cpu = args.contains("cpu");
  if (mem == cpu) return bad("give one of memory or cpu");
  Request r;
  if (cpu) {
    const json& c = args["cpu"];
    const auto one = [&](const json& v) -> core::Status {
      if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 1u << 20)
        return bad("cpu: want a CPU number or a list of them");
      r.cpus.push_back(v.get<unsigned>());
      return {};
    };
    if (c.is_array()) {
      if (c.empty() || c.size() > 1024) return bad("cpu: want 1 to 1024 CPU numbers");
      for (const auto& v : c)
        if (auto ok = one(v); !ok) return std::move(ok).error();
    } else if (auto ok = one(c); !ok) {
      return std::move(ok).error();
    }
    std::sort(r.cpus.begin(), r.cpus.end());
    r.cpus.erase(std::unique(r.cpus.begin(), r.cpus.end()), r.cpus.end());
    return r;
  }
  const json& m = args["memory"];
  MemoryRequest mr;
  if (m.is_object()) {
    for (const auto& [key, value] : m.items())
      if (key != "address" && key != "size")
        return bad("memory." + key.substr(0, 64) + ": unknown field");
    if (!m.contains("address") || !m.contains("size"))
      return bad("memory: a DIMM range needs address and size");
    auto a = parse_bytes(m["address"], "memory.address");
    if (!a) return std::move(a).error();
    mr.address = *a;
    auto s = parse_bytes(m["size"], "memory.size");
    if (!s) return std::move(s).error();
    mr.size = *s;
    if (*mr.address > UINT64_MAX - mr.size) return bad("memory: the range overflows");
  } else {
    auto s = parse_bytes(m, "memory");
    if (!s) return std::move(s).error();
    mr.size = *s;
  }
  if (mr.size == 0) return bad("memory: the size must not be 0");
  r.memory = mr;
  return r;
}

core::Result<json> prepare_memory(const core::Context& ctx, const MemoryRequest& req,
                                  const Writer& write) {
  auto mem = read_memory(ctx);
  if (!mem) return std::move(mem).error();
  Memory& m = *mem;
  const std::uint64_t bs = m.block_size;
  std::vector<Block*> done;
  std::size_t already = 0;

  if (req.address) {
    const std::uint64_t a = *req.address;
    if (a % bs || req.size % bs)
      return bad("memory: " + hex(a) + "+" + hex(req.size) +
                 " is not on memory block boundaries (block size " + hex(bs) + ")");
    // Every block of the range, highest first: hot-added memory sits at the top, and
    // the kernel's own offline_and_remove_memory goes the same way.
    std::vector<Block*> range;
    for (std::uint64_t at = a; at < a + req.size; at += bs) {
      auto it = std::find_if(m.blocks.begin(), m.blocks.end(),
                             [&](const Block& b) { return b.start == at; });
      if (it == m.blocks.end())
        return bad("memory: no memory block at " + hex(at) + " (the range " + hex(a) + "+" +
                   hex(req.size) + " is not this VM's hotpluggable memory)");
      range.push_back(&*it);
    }
    std::reverse(range.begin(), range.end());
    for (Block* b : range) {
      if (b->state == "offline") {
        ++already;
        continue;
      }
      if (!is_online(b->state)) {
        json r = refusal("memory" + std::to_string(b->id),
                         core::make_error(std::make_error_code(std::errc::device_or_resource_busy),
                                          "state " + b->state));
        r["reason"] = "the block is " + b->state;
        r["rolled_back"] = sysfs::format_ranges("memory", ids_of(done));
        r["rollback_failed"] = roll_back(ctx, done, write);
        return r;
      }
      if (auto ok = offline(ctx, *b, write); !ok) {
        json r = refusal("memory" + std::to_string(b->id), ok.error());
        r["rolled_back"] = sysfs::format_ranges("memory", ids_of(done));
        r["rollback_failed"] = roll_back(ctx, done, write);
        return r;
      }
      done.push_back(b);
    }
    json r = ready_memory(m, done, already);
    r["address"] = hex(a);
    r["size"] = req.size;
    return r;
  }

  // As much movable memory as asked, in whole blocks: the highest movable blocks
  // first; a block the kernel refuses is passed over for the next one.
  const std::uint64_t want = (req.size + bs - 1) / bs;
  std::optional<json> last_refusal;
  for (auto it = m.blocks.rbegin(); it != m.blocks.rend() && done.size() < want; ++it) {
    Block& b = *it;
    if (!is_online(b.state) || !movable(b)) continue;
    if (auto ok = offline(ctx, b, write); !ok) {
      last_refusal = refusal("memory" + std::to_string(b.id), ok.error());
      continue;
    }
    done.push_back(&b);
  }
  if (done.size() < want) {
    json r = last_refusal ? *last_refusal : json{{"state", "refused"}, {"errno", "ENOSPC"}};
    r["state"] = "refused";
    r["reason"] = "only " + std::to_string(done.size() * bs) + " of the " +
                  std::to_string(want * bs) + " bytes asked could be offlined" +
                  (last_refusal ? " (last refusal: " + (*last_refusal)["part"].get<std::string>() +
                                      " " + (*last_refusal)["errno"].get<std::string>() + ")"
                                : " (not enough online movable memory)");
    r["rolled_back"] = sysfs::format_ranges("memory", ids_of(done));
    r["rollback_failed"] = roll_back(ctx, done, write);
    return r;
  }
  return ready_memory(m, done, 0);
}

core::Result<json> prepare_cpus(const core::Context& ctx, const std::vector<unsigned>& cpus,
                                const Writer& write) {
  auto top = sysfs::Dir::open(ctx.root, core::paths::kSysCpuDir);
  if (!top) return std::move(top).error();
  struct Cpu {
    unsigned id;
    sysfs::Dir dir;
    bool online;
  };
  std::vector<Cpu> list;
  for (unsigned id : cpus) {
    const std::string name = "cpu" + std::to_string(id);
    auto dir = top->child(name);
    if (!dir && dir.error().code == std::errc::no_such_file_or_directory)
      return bad("cpu: there is no " + name);
    if (!dir) return std::move(dir).error();
    auto on = dir->read(kOnline);
    if (!on) return std::move(on).error();
    if (!*on)
      return bad("cpu: " + name + " cannot be taken offline (no online file: the boot CPU)");
    list.push_back({id, std::move(dir).value(), **on != "0"});
  }
  // Highest first, as the platform unplugs them.
  std::vector<unsigned> done, already;
  const auto roll = [&]() {
    json failed = json::array();
    for (auto it = done.rbegin(); it != done.rend(); ++it)
      for (auto& c : list)
        if (c.id == *it && !ctx.dry_run)
          if (!do_write(write, c.dir, kOnline, "1")) failed.push_back("cpu" + std::to_string(c.id));
    return failed;
  };
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    if (!it->online) {
      already.push_back(it->id);
      continue;
    }
    if (ctx.dry_run) {
      ctx.would("write 0 to " + it->dir.display(kOnline));
    } else if (auto ok = do_write(write, it->dir, kOnline, "0"); !ok) {
      json r = refusal("cpu" + std::to_string(it->id), ok.error());
      std::sort(done.begin(), done.end());
      r["rolled_back"] = sysfs::format_ranges("cpu", done);
      r["rollback_failed"] = roll();
      return r;
    }
    done.push_back(it->id);
  }
  std::sort(done.begin(), done.end());
  std::sort(already.begin(), already.end());
  return json{{"state", "ready"},
              {"cpus", sysfs::format_ranges("cpu", done)},
              {"already_offline", sysfs::format_ranges("cpu", already)}};
}

core::Result<json> prepare(const core::Context& ctx, const Request& req, const Writer& write) {
  if (req.memory) return prepare_memory(ctx, *req.memory, write);
  return prepare_cpus(ctx, req.cpus, write);
}

}  // namespace guestkit::plugins::unplug
