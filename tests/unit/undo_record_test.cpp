// Undo records (plugins/undo_record.hpp): one JSON format for the disk records, the
// iface state files and the removed default routes; written atomically, damage named;
// the older formats (tests/fixtures/undo-records-v1) still read and rewritten as JSON.

#include "plugins/undo_record.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "plugins/disk/records.hpp"
#include "plugins/iface/iface.hpp"
#include "plugins/iface/route_record.hpp"
#include "tests/support.hpp"

namespace core = guestkit::core;
namespace disk = guestkit::plugins::disk;
namespace iface = guestkit::plugins::iface;
namespace undo = guestkit::plugins::undo;
namespace nl = guestkit::core::netlink;
namespace fs = std::filesystem;
using guestkit::test::TempDir;
using nlohmann::json;

namespace {

// A root holding the records an older guestkit left in /run/guestkit.
void copy_old_records(const TempDir& t) {
  const fs::path from = fs::path(GUESTKIT_SOURCE_DIR) / "tests/fixtures/undo-records-v1";
  fs::copy(from, t.path(), fs::copy_options::recursive);
}

json parsed(const TempDir& t, std::string_view relative) {
  return json::parse(t.read(relative));  // throws (fails the test) unless JSON
}

}  // namespace

TEST_CASE("undo records: JSON objects, replaced atomically, damage named", "[undo]") {
  TempDir t;
  const auto root = t.root();
  const std::string guest = "/run/guestkit/thing/rec";
  CHECK_FALSE(*undo::read(root, guest, "test record"));
  REQUIRE(undo::write(root, guest, json{{"a", "b"}, {"n", 3}}));
  auto back = undo::read(root, guest, "test record");
  REQUIRE(back);
  REQUIRE(*back);
  CHECK(**back == json{{"a", "b"}, {"n", 3}});
  struct stat st {};
  REQUIRE(::stat((t.path() / "run/guestkit/thing/rec").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  // Atomic: no temp file is left beside it.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t.path() / "run/guestkit/thing"))
    ++entries;
  CHECK(entries == 1);
  // A string that is not UTF-8 (a disk label's raw bytes) is written, never thrown on.
  REQUIRE(undo::write(root, guest, json{{"label", std::string("d\xff")}}));
  CHECK(undo::text(**undo::read(root, guest, "test record"), "label") == "d\xef\xbf\xbd");

  for (const char* bad : {"{\"a\": ", "[1, 2]", "", "\n", "garbage", "{\"a\": 1} {\"b\": 2}"}) {
    INFO(bad);
    t.write("run/guestkit/thing/rec", bad);
    auto r = undo::read(root, guest, "test record");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::Errc::bad_input);
    CHECK(r.error().message().find((t.path() / "run/guestkit/thing/rec").string() +
                                   ": damaged test record") == 0);
  }
  CHECK(*undo::remove(root, guest));
  CHECK_FALSE(*undo::remove(root, guest));
  CHECK_FALSE(*undo::remove(root, "/run/nowhere/rec"));
}

TEST_CASE("undo records: the iface state of an older guestkit is read, then rewritten as JSON",
          "[undo]") {
  TempDir t;
  copy_old_records(t);
  const auto root = t.root();
  auto old = iface::read_state(root, "eth1");
  REQUIRE(old);
  REQUIRE(*old);
  CHECK((*old)->backend == "ifupdown");
  CHECK((*old)->dhcp == "client");
  CHECK((*old)->client == "dhclient");
  CHECK((*old)->unit == "guestkit-dhcp@eth1.service");
  CHECK((*old)->metric == 1024);
  CHECK((*old)->attached);
  // An even older key (REMOVED_GATEWAY) is passed over, as it always was.
  auto eth2 = iface::read_state(root, "eth2");
  REQUIRE(eth2);
  REQUIRE(*eth2);
  CHECK((*eth2)->networkd_file == "/run/systemd/network/10-guestkit-eth2.network");
  CHECK_FALSE((*eth2)->attached);
  // guestkit status and coldplug list it like a new one.
  CHECK(*iface::state_names(root) == std::vector<std::string>{"eth1", "eth2"});

  // The next write (a DHCP restart: attached not set) keeps `attached` from the old
  // record and writes JSON.
  iface::State s = **old;
  s.attached = false;
  s.client = "udhcpc";
  REQUIRE(iface::write_state(root, "eth1", s));
  const json j = parsed(t, "run/guestkit/iface/eth1.state");
  CHECK(j.at("client") == "udhcpc");
  CHECK(j.at("backend") == "ifupdown");
  CHECK(j.at("metric") == 1024);
  CHECK(j.at("attached") == true);
  auto again = iface::read_state(root, "eth1");
  REQUIRE(again);
  CHECK((*again)->client == "udhcpc");
  CHECK((*again)->unit == "guestkit-dhcp@eth1.service");
  CHECK((*again)->attached);
}

TEST_CASE("undo records: damaged iface state is an error naming the file, never overwritten",
          "[undo]") {
  TempDir t;
  const auto root = t.root();
  const std::string file = (t.path() / "run/guestkit/iface/eth1.state").string();
  const std::pair<const char*, const char*> cases[] = {
      {"{\"client\": \"dhclient\", ", ": damaged guestkit-iface state (not a JSON object)"},
      {"{\"metric\": -5}", ": damaged guestkit-iface state (metric is not a route metric)"},
      {"{\"metric\": \"1024\"}", ": damaged guestkit-iface state (metric is not a route metric)"},
      {"# old\nCLIENT=dhclient\nMETRIC=12abc\n",
       ":3: damaged guestkit-iface state (METRIC is not a route metric)"},
      {"CLIENT=dhclient\nthis is no record\n",
       ":2: damaged guestkit-iface state (neither JSON nor KEY=VALUE)"},
      {"client=dhclient\n", ":1: damaged guestkit-iface state (neither JSON nor KEY=VALUE)"},
  };
  for (const auto& [text, why] : cases) {
    INFO(text);
    t.write("run/guestkit/iface/eth1.state", text);
    auto r = iface::read_state(root, "eth1");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == core::Errc::bad_input);
    CHECK(r.error().message() == file + why);
    iface::State s;
    s.dhcp = "client";
    CHECK_FALSE(iface::write_state(root, "eth1", s));
    CHECK(t.read("run/guestkit/iface/eth1.state") == text);
  }
}

TEST_CASE("undo records: removed default routes of an older guestkit are still given back",
          "[undo]") {
  TempDir t;
  copy_old_records(t);
  const auto root = t.root();
  const std::vector<iface::RemovedRoute> expected{
      {"eth2", 3, *nl::Ipv4::parse("198.51.100.1"), 100},
      {"eth3", 4, *nl::Ipv4::parse("203.0.113.1"), 0}};
  auto old = iface::read_removed_routes(root);
  REQUIRE(old);
  CHECK(*old == expected);
  // The route policy's next write is JSON, with the same routes.
  REQUIRE(iface::write_removed_routes(root, *old));
  const json j = parsed(t, "run/guestkit/iface/default-routes");
  REQUIRE(j.at("routes").size() == 2);
  CHECK(j.at("routes").at(0) ==
        json{{"interface", "eth2"}, {"ifindex", 3}, {"gateway", "198.51.100.1"}, {"metric", 100}});
  CHECK(*iface::read_removed_routes(root) == expected);

  // A damaged JSON record: an error naming the file, never an empty list.
  for (const char* bad : {"{\"routes\": 3}", "{}",
                          "{\"routes\": [{\"interface\": \"eth2\", \"ifindex\": 0, "
                          "\"gateway\": \"198.51.100.1\", \"metric\": 1}]}",
                          "{\"routes\": [{\"interface\": \"../x\", \"ifindex\": 3, "
                          "\"gateway\": \"198.51.100.1\", \"metric\": 1}]}",
                          "{\"routes\": [{\"interface\": \"eth2\", \"ifindex\": 3, "
                          "\"gateway\": \"198.51.100.256\", \"metric\": 1}]}",
                          "{\"routes\": [{\"interface\": \"eth2\", \"ifindex\": 3, "
                          "\"gateway\": \"198.51.100.1\", \"metric\": -1}]}"}) {
    INFO(bad);
    t.write("run/guestkit/iface/default-routes", bad);
    auto r = iface::read_removed_routes(root);
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find((t.path() / "run/guestkit/iface/default-routes").string() +
                                   ": damaged record of removed default routes") == 0);
  }
}

TEST_CASE("undo records: disk records stay JSON, old ones read, damage named", "[undo]") {
  TempDir t;
  copy_old_records(t);
  const auto root = t.root();
  auto old = disk::read_record(root, "vdb1");
  REQUIRE(old);
  REQUIRE(*old);
  CHECK((*old)->mountpoint == "/srv/data");
  CHECK((*old)->devno == "254:17");
  CHECK((*old)->since == 1796000000);
  REQUIRE(disk::write_record(root, **old));
  CHECK(parsed(t, "run/guestkit/disks/vdb1").at("label") == "data");
  CHECK(disk::read_record(root, "vdb1")->value().uuid == (*old)->uuid);

  t.write("run/guestkit/disks/vdb1", "name=vdb1\n");
  auto r = disk::read_record(root, "vdb1");
  REQUIRE_FALSE(r);
  CHECK(r.error().message() == (t.path() / "run/guestkit/disks/vdb1").string() +
                                   ": damaged guestkit disk record (not a JSON object)");
  std::vector<std::string> problems;
  CHECK(disk::list_records(root, &problems)->empty());
  CHECK(problems == std::vector<std::string>{r.error().message()});
  REQUIRE(disk::remove_record(root, "vdb1"));
  CHECK_FALSE(fs::exists(t.path() / "run/guestkit/disks/vdb1"));
}
