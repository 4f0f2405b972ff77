// A full disk, a deleted or unwritable cache folder, a purge the store refuses, and what sits on
// disk (issue 14): the gateway lives, every response it starts is whole unless the upstream broke
// off, the store's failure is logged once, counted and shown, misses bypass it, and it recovers by
// itself. The cache runs on a small tmpfs of its own (test_support::small_filesystem, root only).
#include <future>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "small_filesystem.hpp"
#include "temp_dir.hpp"

using namespace gateway_test;
using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::uint64_t mib = 1 << 20;

json cache_stats(stack& s) { return json::parse(s.admin("GET", "/cache/stats").body); }

// How many lines of the gateway's output hold `text`.
std::size_t lines_with(stack& s, const std::string& text) {
  std::size_t n = 0;
  for (const auto& line : s.gateway_lines()) n += line.find(text) != std::string::npos;
  return n;
}

// Waits for /metrics' recgate_cache_store_writable to read `writable`.
bool wait_store(stack& s, bool writable, std::chrono::milliseconds timeout = 20s) {
  return wait_metric(s, "recgate_cache_store_writable", exactly(writable ? 1 : 0), timeout);
}

// A stack whose cache lives on `fs`.
stack_options on_small_fs(const test_support::small_filesystem& fs, const std::string& extra = {}) {
  stack_options o;
  o.cache = true;
  o.cache_path = (fs.path() / "cache").string();
  o.extra_cache = extra;
  o.upstream_idle_timeout = "5s";
  return o;
}

#define REQUIRE_SMALL_FS(fs)                        \
  if (!(fs).available()) {                          \
    WARN_MESSAGE(false, "not run: " << (fs).why()); \
    return;                                         \
  }

}  // namespace

TEST_CASE("a full disk mid-fill: the body arrives whole, misses are not stored, it recovers") {
  test_support::small_filesystem fs(64 * mib);
  REQUIRE_SMALL_FS(fs);
  // The floor low, so the gateway itself leaves room and the disk fills from outside.
  stack s(on_small_fs(fs, "min_free_bytes = 1048576\n"));
  const auto slow = laml_sim::sized_sid(14101, 12 * mib);
  s.sim_fault({{"sid", slow}, {"bytes_per_second", 4 * mib}});
  auto download =
      std::async(std::launch::async, [&] { return s.get(recording_path(slow, "wav")); });
  REQUIRE(wait_metric(s, "recgate_upstream_bytes_total", at_least(2.0 * mib), 10s));
  fs.fill_leaving(0);  // another process takes the rest of the disk

  auto r = download.get();
  CHECK(r.ok());
  CHECK(r.status == 200);
  CHECK(r.body.size() == 12 * mib);
  CHECK(r.body == expected_body(slow, "wav"));
  CHECK(r.header("X-Cache") == std::string("MISS"));
  CHECK(::kill(s.gateway_pid(), 0) == 0);
  // The failed write: counted, logged with its reason.
  CHECK(wait_metric(s, "recgate_cache_write_failures_total", at_least(1), 5s));
  CHECK(s.wait_gateway_line({"the store takes no writes", "No space left on device"}));

  // While the disk stays full, misses are served whole from the upstream and nothing is stored
  // (BYPASS while the store fails; MISS streamed without being stored once it is back but
  // there is no room).
  for (int i = 0; i < 5; ++i) {
    // Again before each: the store's recovery may have freed room meanwhile (files of the
    // failed fill), and a miss that fits is rightly stored.
    fs.fill_leaving(0);
    auto sid = laml_sim::sized_sid(14110 + i, 1 * mib);
    auto miss = s.get(recording_path(sid, "wav"));
    CHECK(miss.status == 200);
    CHECK(miss.body == expected_body(sid, "wav"));
    auto how = miss.header("X-Cache").value_or("");
    CHECK((how == "BYPASS" || how == "MISS"));
  }
  CHECK(cache_stats(s)["objects"] == 0);

  // Space back: the store takes writes by itself; misses are cached again.
  fs.release_filler();
  REQUIRE(wait_store(s, true, 40s));
  auto sid = laml_sim::sized_sid(14120, 1 * mib);
  CHECK(s.get(recording_path(sid, "wav")).header("X-Cache") == std::string("MISS"));
  wait_for_hit(s, recording_path(sid, "wav"));
  auto hit = s.get(recording_path(sid, "wav"));
  CHECK(hit.header("X-Cache") == std::string("HIT"));
  CHECK(hit.body == expected_body(sid, "wav"));
  // The recording cut off from the store was never committed: fetched anew, whole.
  auto again = s.get(recording_path(slow, "wav"));
  CHECK(again.header("X-Cache") == std::string("MISS"));
  CHECK(again.body.size() == 12 * mib);
  // Each change of state logged once: as many "no writes" lines as failures began, each but the
  // current one ended by a recovery.
  auto m = scrape(s);
  auto failed = lines_with(s, "the store takes no writes");
  auto back = lines_with(s, "the store takes writes again");
  CHECK(failed >= 1);
  CHECK(back == failed);
  CHECK(m["recgate_cache_store_recoveries_total"] == static_cast<double>(back));
  CHECK(lines_with(s, "exception") == 0);
}

TEST_CASE("a recording larger than the cache's filesystem is streamed whole, not stored") {
  test_support::small_filesystem fs(30 * mib);
  REQUIRE_SMALL_FS(fs);
  stack s(on_small_fs(fs));
  const auto big = laml_sim::sized_sid(14201, 50 * mib);
  auto r = s.get(recording_path(big, "wav"));
  CHECK(r.ok());
  CHECK(r.body.size() == 50 * mib);
  CHECK(r.body == expected_body(big, "wav"));
  CHECK(::kill(s.gateway_pid(), 0) == 0);
  auto m = scrape(s);
  CHECK(m["recgate_cache_write_failures_total"] == 0);
  CHECK(m["recgate_cache_relays_total"] == 1);
  CHECK(m["recgate_cache_store_writable"] == 1);
  CHECK(cache_stats(s)["objects"] == 0);
  // A small one is still cached.
  auto small = laml_sim::sized_sid(14202, 64 * 1024);
  CHECK(s.get(recording_path(small, "wav")).status == 200);
  wait_for_hit(s, recording_path(small, "wav"));
}

TEST_CASE("twelve concurrent 4 MiB fills on a 30 MiB filesystem: every body whole, none lost") {
  test_support::small_filesystem fs(30 * mib);
  REQUIRE_SMALL_FS(fs);
  std::string floor;
  // The automatic floor leaves room for the store's own writes: fills that do not fit are
  // streamed without being stored, and no write fails.
  SUBCASE("the automatic floor") {}
  // A floor set too low lets the store fill the disk itself: writes fail, and it still comes
  // back by itself (emptied, when even a reopen finds no room).
  SUBCASE("a floor set too low") { floor = "min_free_bytes = 1048576\n"; }
  CAPTURE(floor);
  stack s(on_small_fs(fs, floor));
  std::vector<std::future<test_support::http_result>> downloads;
  std::vector<std::string> sids;
  for (int i = 0; i < 12; ++i) {
    sids.push_back(laml_sim::sized_sid(14300 + i, 4 * mib));
    downloads.push_back(std::async(std::launch::async, [&s, sid = sids.back()] {
      return s.get(recording_path(sid, "wav"), with_key(), "GET");
    }));
  }
  for (std::size_t i = 0; i < downloads.size(); ++i) {
    auto r = downloads[i].get();
    CAPTURE(i);
    CHECK(r.ok());
    CHECK(r.body == expected_body(sids[i], "wav"));
  }
  CHECK(::kill(s.gateway_pid(), 0) == 0);
  // Whatever could not be stored was streamed; the store works (or comes back) by itself.
  bool back = wait_store(s, true, 60s);
  if (!back) {
    for (const auto& line : s.gateway_lines()) {
      if (line.find("access") == std::string::npos) MESSAGE(line.substr(0, 400));
    }
  }
  REQUIRE(back);
  auto m = scrape(s);
  if (floor.empty()) CHECK(m["recgate_cache_write_failures_total"] == 0);
  MESSAGE("write failures " << m["recgate_cache_write_failures_total"] << ", recoveries "
                            << m["recgate_cache_store_recoveries_total"] << ", relays "
                            << m["recgate_cache_relays_total"] << ", objects "
                            << cache_stats(s)["objects"]);
  for (const auto& sid : sids) {
    auto r = s.get(recording_path(sid, "wav"));
    CHECK(r.body == expected_body(sid, "wav"));
  }
}

// The gateway as the service user (nobody), its cache in a folder of its own that a test can make
// unwritable; the folder goes with the returned stack's test.
stack_options as_service_user(const std::filesystem::path& cache_dir) {
  stack_options o;
  o.cache = true;
  o.gateway_prefix = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
  std::filesystem::create_directories(cache_dir);
  REQUIRE(::chown(cache_dir.c_str(), 65534, 65534) == 0);
  o.cache_path = cache_dir.string();
  return o;
}

// Makes the store fail: the folder unwritable, then a recording large enough that its chunks
// outgrow the memtable, whose flush needs a new file (writes land in the open WAL until then).
// The body is still served whole.
void make_store_fail(stack& s, const std::filesystem::path& cache_dir, int unique) {
  REQUIRE(::chmod(cache_dir.c_str(), 0555) == 0);
  const auto big = laml_sim::sized_sid(unique, 12 * mib);
  auto r = s.get(recording_path(big, "wav"));
  CHECK(r.body == expected_body(big, "wav"));
  REQUIRE(wait_store(s, false));
}

#define REQUIRE_ROOT()                                                               \
  if (::geteuid() != 0) {                                                            \
    WARN_MESSAGE(false, "not run: needs root to start the gateway as another user"); \
    return;                                                                          \
  }

TEST_CASE("a purge the store refuses changes nothing and says so") {
  REQUIRE_ROOT();
  test_support::temp_dir tmp("recgate-purge-");
  const auto cache_dir = tmp.path / "cache";
  stack s(as_service_user(cache_dir));
  const auto sid = laml_sim::sized_sid(14401, 256 * 1024);
  const auto path = recording_path(sid, "wav");
  REQUIRE(s.get(path).status == 200);
  wait_for_hit(s, path);
  auto before = cache_stats(s);
  REQUIRE(before["objects"] == 1);

  make_store_fail(s, cache_dir, 14402);
  auto purge = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  check_json_error(purge, 500);
  auto after = cache_stats(s);
  CHECK(after["objects"] == before["objects"]);
  CHECK(after["bytes"] == before["bytes"]);
  auto still = s.get(path);
  CHECK(still.header("X-Cache") == std::string("HIT"));
  CHECK(still.body == expected_body(sid, "wav"));

  REQUIRE(::chmod(cache_dir.c_str(), 0755) == 0);
  REQUIRE(wait_store(s, true));
  auto done = s.admin("DELETE", "/cache/recordings/" + std::string(project_id) + "/" + sid);
  CHECK(done.status == 200);
  CHECK(json::parse(done.body)["purged"] == 1);
  CHECK(cache_stats(s)["objects"] == 0);
  CHECK(s.get(path).header("X-Cache") == std::string("MISS"));
  s.stop_gateway();
}

TEST_CASE("the cache folder deleted under a running gateway: whole bodies, a new folder") {
  stack_options o;
  o.cache = true;
  stack s(o);
  const auto cached = laml_sim::sized_sid(14501, 256 * 1024);
  REQUIRE(s.get(recording_path(cached, "wav")).status == 200);
  wait_for_hit(s, recording_path(cached, "wav"));

  std::filesystem::remove_all(s.dir() / "cache");
  REQUIRE(wait_store(s, false, 10s));
  for (int i = 0; i < 3; ++i) {
    auto sid = laml_sim::sized_sid(14510 + i, 1 * mib);
    auto r = s.get(recording_path(sid, "wav"));
    CHECK(r.status == 200);
    CHECK(r.body == expected_body(sid, "wav"));
  }
  REQUIRE(wait_store(s, true));
  CHECK(std::filesystem::exists(s.dir() / "cache" / "CURRENT"));
  // A new, empty store: what was cached is fetched again, then cached there.
  auto again = s.get(recording_path(cached, "wav"));
  CHECK(again.header("X-Cache") == std::string("MISS"));
  CHECK(again.body == expected_body(cached, "wav"));
  wait_for_hit(s, recording_path(cached, "wav"));
  CHECK(lines_with(s, "was removed or replaced") == 1);
}

TEST_CASE("the cache folder made read-only for the service user: whole bodies, recovery after") {
  REQUIRE_ROOT();
  test_support::temp_dir tmp("recgate-ro-");
  const auto cache_dir = tmp.path / "cache";
  stack s(as_service_user(cache_dir));
  const auto cached = laml_sim::sized_sid(14601, 256 * 1024);
  REQUIRE(s.get(recording_path(cached, "wav")).status == 200);
  wait_for_hit(s, recording_path(cached, "wav"));

  make_store_fail(s, cache_dir, 14602);
  CHECK(s.wait_gateway_line({"the store takes no writes"}));
  auto bypassed = laml_sim::sized_sid(14603, 1 * mib);
  auto b = s.get(recording_path(bypassed, "wav"));
  CHECK(b.header("X-Cache") == std::string("BYPASS"));
  CHECK(b.body == expected_body(bypassed, "wav"));
  // What is cached is still served while the store cannot write.
  auto kept = s.get(recording_path(cached, "wav"));
  CHECK(kept.header("X-Cache") == std::string("HIT"));
  CHECK(kept.body == expected_body(cached, "wav"));
  // Still failing a while later: the folder is still unwritable, so it is not reopened.
  std::this_thread::sleep_for(1500ms);
  CHECK(scrape(s)["recgate_cache_store_writable"] == 0);

  REQUIRE(::chmod(cache_dir.c_str(), 0755) == 0);
  REQUIRE(wait_store(s, true));
  auto hit = s.get(recording_path(cached, "wav"));
  CHECK(hit.header("X-Cache") == std::string("HIT"));
  CHECK(s.get(recording_path(bypassed, "wav")).header("X-Cache") == std::string("MISS"));
  CHECK(lines_with(s, "the store takes no writes") == 1);
  CHECK(lines_with(s, "the store takes writes again") == 1);
  s.stop_gateway();
}

namespace {

struct disk_run {
  std::uint64_t audio = 0;
  std::uint64_t peak_used = 0;
  std::uint64_t min_free = ~std::uint64_t{0};
  double evictions = 0;
  double evictions_for_space = 0;
};

// 150 recordings of 2 MiB, one after another, through max_bytes = 200 MiB on a volume of
// `volume` bytes; every body whole, no write failed, the last one cached.
disk_run two_mib_recordings_through(std::uint64_t volume, int first_sid) {
  disk_run run;
  test_support::small_filesystem fs(volume);
  if (!fs.available()) {
    WARN_MESSAGE(false, "not run: " << fs.why());
    return run;
  }
  stack s(on_small_fs(fs, "max_bytes = 209715200\n"));
  for (int i = 0; i < 150; ++i) {
    auto sid = laml_sim::sized_sid(first_sid + i, 2 * mib);
    auto r = s.get(recording_path(sid, "wav"));
    REQUIRE(r.status == 200);
    CHECK(r.body.size() == 2 * mib);
    auto stats = cache_stats(s);
    if (stats["store"].contains("disk_used")) {
      run.peak_used =
          std::max<std::uint64_t>(run.peak_used, stats["store"]["disk_used"].get<std::uint64_t>());
      run.min_free =
          std::min<std::uint64_t>(run.min_free, stats["store"]["disk_free"].get<std::uint64_t>());
    }
  }
  auto m = scrape(s);
  auto stats = cache_stats(s);
  run.audio = stats["bytes"].get<std::uint64_t>();
  run.evictions = m["recgate_cache_evictions_total"];
  run.evictions_for_space = m["recgate_cache_evictions_for_space_total"];
  MESSAGE("on " << volume / mib << " MiB: audio kept " << run.audio / mib << " MiB in "
                << stats["objects"] << " objects; folder on disk peaked at " << run.peak_used / mib
                << " MiB, free at least " << run.min_free / mib << " MiB (floor "
                << stats["store"]["min_free"].get<std::uint64_t>() / mib << " MiB); evictions "
                << run.evictions << " (for space " << run.evictions_for_space
                << "); garbage in blob files " << m["recgate_cache_blob_garbage_bytes"] / mib
                << " MiB");
  CHECK(m["recgate_cache_write_failures_total"] == 0);
  CHECK(m["recgate_cache_store_writable"] == 1);
  // Room was made for every one: none streamed past the cache.
  CHECK(lines_with(s, "streamed without being stored") == 0);
  CHECK(run.evictions > 0);
  CHECK(run.audio <= 200 * mib);
  CHECK(run.peak_used < volume);
  // The last ones are hits.
  auto last = laml_sim::sized_sid(first_sid + 149, 2 * mib);
  wait_for_hit(s, recording_path(last, "wav"));
  return run;
}

}  // namespace

TEST_CASE("what sits on disk stays within the volume: 300 MiB through a 200 MiB cache") {
  SUBCASE("on 240 MiB, too small for max_bytes: the floor evicts") {
    auto run = two_mib_recordings_through(240 * mib, 14700);
    CHECK(run.evictions_for_space > 0);
  }
  SUBCASE("on the README's sizing rule, max_bytes + 64 MiB + max_bytes/256 + the floor") {
    // The floor on 320 MiB: 40 MiB of write-ahead log and 2 memtables of 8 MiB (more than 5%).
    auto run = two_mib_recordings_through(200 * mib + 64 * mib + 56 * mib, 14900);
    CHECK(run.evictions_for_space == 0);
    CHECK(run.audio >= 190 * mib);
    // What the rule's 64 MiB are for: the write-ahead log, memtables, what waits for compaction.
    CHECK(run.peak_used <= 200 * mib + 64 * mib);
  }
}
