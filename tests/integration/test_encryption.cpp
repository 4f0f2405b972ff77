// Encryption at rest end to end: laml-sim upstream, recgate with a real RocksDB and a key file;
// the store's files searched for the audio, chunks tampered with behind the gateway's back, and
// keys rotated across restarts.
#include <algorithm>
#include <fstream>
#include <regex>

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include "artifacts.hpp"
#include "cache/chunk_cipher.hpp"
#include "cache/store.hpp"
#include "child_process.hpp"
#include "gateway_fixture.hpp"
#include "laml_sim/laml_sim.hpp"
#include "read_file.hpp"
#include "temp_dir.hpp"

using namespace gateway_test;

namespace {

// How many bytes base64 text (standard or URL-safe, padded or not) decodes to; -1 when it is not
// base64.
int base64_decoded_size(std::string text) {
  for (auto& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (text.size() % 4 != 0) text += '=';
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return -1;
  const auto padding = text.size() - text.find_last_not_of('=') - 1;
  return n - static_cast<int>(padding);
}

// A fresh key line, ID:key (32 random bytes), from the real CLI (`recgate keygen --encryption-key
// ID`), so the command is tested by every use. A secret: the sweep checks no output holds it.
std::string new_key_line(const std::string& id) {
  auto out = run({RECGATE_BIN, "keygen", "--encryption-key", id});
  REQUIRE(out.ends_with("\n"));
  out.pop_back();
  REQUIRE_MESSAGE(out.find('\n') == std::string::npos,
                  "one line expected: " << out.size() << " bytes");
  REQUIRE(out.starts_with(id + ":"));
  const auto key = out.substr(id.size() + 1);
  test_support::artifacts::add_secret(key);
  CHECK(base64_decoded_size(key) == 32);  // AES-256
  return out;
}

// A folder for key files, outside the stack's (the config names the file before it starts).
struct key_folder {
  test_support::temp_dir dir{"recgate-keys-"};

  std::string write(const std::vector<std::string>& lines) const {
    auto file = dir.path / "cache.keys";
    {
      std::ofstream out(file, std::ios::trunc);
      for (const auto& l : lines) out << l << "\n";
    }
    std::filesystem::permissions(
        file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return file.string();
  }
};

stack_options encrypted_with(const std::string& key_file) {
  stack_options o;
  o.cache = true;
  if (!key_file.empty()) o.extra_cache = "encryption_key_file = \"" + key_file + "\"\n";
  return o;
}

// GET that must answer the recording whole and correct; returns X-Cache.
std::string get_whole(stack& s, const std::string& sid, const std::string& ext = "wav") {
  auto r = s.get(recording_path(sid, ext));
  REQUIRE(r.ok());
  REQUIRE(r.status == 200);
  CHECK(r.body == expected_body(sid, ext));
  return r.header("X-Cache").value_or("");
}

// Which of `bodies` have some 64-byte window that occurs anywhere in the files under `folder`
// (every file: .sst, .blob, .log, MANIFEST, OPTIONS...). Rabin-Karp: every window of every body
// is hashed; every window of every file is looked up, and a hash match is compared byte by byte.
std::vector<bool> plaintext_found(const std::filesystem::path& folder,
                                  const std::vector<std::string>& bodies) {
  constexpr std::size_t window = 64;
  constexpr std::uint64_t base = 1099511628211ull;
  std::uint64_t top = 1;  // base^(window-1)
  for (std::size_t i = 1; i < window; ++i) top *= base;
  auto roll = [&](std::string_view data, auto&& each) {
    if (data.size() < window) return;
    std::uint64_t h = 0;
    for (std::size_t i = 0; i < window; ++i) h = h * base + static_cast<unsigned char>(data[i]);
    each(h, 0);
    for (std::size_t i = window; i < data.size(); ++i) {
      h = (h - top * static_cast<unsigned char>(data[i - window])) * base +
          static_cast<unsigned char>(data[i]);
      each(h, i - window + 1);
    }
  };
  struct entry {
    std::uint64_t hash;
    std::uint32_t body;
    std::uint32_t offset;
    bool operator<(const entry& o) const { return hash < o.hash; }
  };
  std::vector<entry> index;
  for (std::size_t b = 0; b < bodies.size(); ++b) {
    roll(bodies[b], [&](std::uint64_t h, std::size_t at) {
      index.push_back({h, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(at)});
    });
  }
  std::sort(index.begin(), index.end());
  std::vector<bool> found(bodies.size(), false);
  std::size_t files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(folder)) {
    if (!f.is_regular_file()) continue;
    ++files;
    auto data = test_support::read_file(f.path());
    std::string_view view(data);
    roll(view, [&](std::uint64_t h, std::size_t at) {
      auto [lo, hi] = std::equal_range(index.begin(), index.end(), entry{h, 0, 0});
      for (auto it = lo; it != hi; ++it) {
        if (view.substr(at, window) ==
            std::string_view(bodies[it->body]).substr(it->offset, window)) {
          found[it->body] = true;
        }
      }
    });
  }
  CHECK(files > 3);  // the scan saw the store's files
  return found;
}

// Opens the stopped gateway's store directly, without keys: values as stored.
std::unique_ptr<recgate::cache::store> open_raw(stack& s) {
  recgate::cache::store_options options;
  options.path = (s.dir() / "cache").string();
  auto st = recgate::cache::store::open(options);
  REQUIRE_MESSAGE(st.ok(), st.error());
  return std::move(*st);
}

recgate::cache::object_key key_of(const std::string& sid, const std::string& format = "wav") {
  return {project_id, sid, format};
}

// Turns cache.encryption_key_file on (with a file) or off (empty) in the stack's config.
void set_key_file(stack& s, const std::string& file) {
  static const std::regex line(R"(encryption_key_file = "[^"]*"\n)");
  auto config = std::regex_replace(test_support::read_file(s.config_path()), line, "");
  if (!file.empty()) {
    auto at = config.find("[cache]\n");
    REQUIRE(at != std::string::npos);
    config.insert(at + 8, "encryption_key_file = \"" + file + "\"\n");
  }
  std::ofstream(s.config_path(), std::ios::trunc) << config;
}

std::uint64_t unreadable_count(stack& s) {
  auto r = s.admin("GET", "/cache/stats");
  REQUIRE(r.status == 200);
  return nlohmann::json::parse(r.body).at("unreadable").get<std::uint64_t>();
}

}  // namespace

TEST_CASE(
    "with encryption on the store's files hold no 64-byte run of the audio; without, they do") {
  for (bool encrypted : {false, true}) {
    CAPTURE(encrypted);
    key_folder keys;
    stack s(encrypted_with(encrypted ? keys.write({new_key_line("k1")}) : ""));
    // Several chunks (the last one written by the commit), one chunk, and an MP3.
    const auto big = laml_sim::sized_sid(301, 700000);
    const auto small = laml_sim::sized_sid(302, 100000);
    const auto mp3 = laml_sim::normal_sid(303);
    std::vector<std::pair<std::string, std::string>> recordings{
        {big, "wav"}, {small, "wav"}, {mp3, "mp3"}};
    std::vector<std::string> bodies;
    for (const auto& [sid, ext] : recordings) {
      CHECK(get_whole(s, sid, ext) == "MISS");
      wait_for_hit(s, recording_path(sid, ext));
      CHECK(get_whole(s, sid, ext) == "HIT");
      // The simulator's bytes, straight from it: what must not be found.
      auto direct = s.sim_get(recording_path(sid, ext));
      REQUIRE(direct.status == 200);
      bodies.push_back(direct.body);
    }
    s.stop_gateway();
    auto found = plaintext_found(s.dir() / "cache", bodies);
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      CAPTURE(i);
      // The control: the same search finds every recording in a plaintext store.
      CHECK(found[i] == !encrypted);
    }
  }
}

TEST_CASE("a tampered chunk is never served: the object is dropped and fetched again") {
  key_folder keys;
  stack s(encrypted_with(keys.write({new_key_line("k1")})));
  const auto sid = laml_sim::sized_sid(311, 700000);  // chunks 0, 1 (put_chunk) and 2 (commit)
  const auto path = recording_path(sid, "wav");
  const auto expected = expected_body(sid, "wav");
  CHECK(get_whole(s, sid) == "MISS");
  wait_for_hit(s, path);
  REQUIRE(upstream_fetches(s, path) == 1);
  s.stop_gateway();

  std::uint32_t index = 0;
  SUBCASE("the first chunk") { index = 0; }
  SUBCASE("a middle chunk") { index = 1; }
  SUBCASE("the last chunk") { index = 2; }
  CAPTURE(index);
  {
    auto st = open_raw(s);
    auto m = st->find(key_of(sid));
    REQUIRE(m);
    REQUIRE(m->chunk_count() == 3);
    auto stored = st->read_chunk(key_of(sid), m->generation, index);
    REQUIRE(stored);
    std::string bad(stored->bytes());
    bad[bad.size() / 3] = static_cast<char>(bad[bad.size() / 3] ^ 0x01);
    stored.reset();
    REQUIRE(st->put_chunk(key_of(sid), m->generation, index, bad).ok());
  }
  s.restart_gateway();
  // The manifest is intact, so this is a hit until the bad chunk is read. The first chunk is
  // read before the head goes out: nothing is sent yet, so that request itself misses and gets
  // the recording whole from the upstream. A later chunk breaks the response off, and what did
  // arrive is the recording's own bytes, never the bad chunk's; the next request misses.
  if (index == 0) {
    CHECK(get_whole(s, sid) == "MISS");
  } else {
    auto broken = s.get(path);
    CHECK_FALSE(broken.ok());
    CHECK(broken.body.size() <= std::size_t(index) * 256 * 1024);
    CHECK(broken.body == expected.substr(0, broken.body.size()));
    CHECK(upstream_fetches(s, path) == 1);
  }
  CHECK(unreadable_count(s) == 1);
  CHECK(s.wait_gateway_line({"is damaged", "failed authentication"}));
  // Dropped: fetched again, and whole.
  if (index != 0) CHECK(get_whole(s, sid) == "MISS");
  CHECK(upstream_fetches(s, path) == 2);
  wait_for_hit(s, path);
  CHECK(get_whole(s, sid) == "HIT");
  CHECK(upstream_fetches(s, path) == 2);
}

TEST_CASE("without encryption too, a committed object with a missing chunk is fetched again") {
  stack s(encrypted_with(""));
  const auto sid = laml_sim::sized_sid(312, 700000);
  const auto path = recording_path(sid, "wav");
  CHECK(get_whole(s, sid) == "MISS");
  wait_for_hit(s, path);
  s.stop_gateway();
  {
    auto st = open_raw(s);
    auto m = st->find(key_of(sid));
    REQUIRE(m);
    REQUIRE(st->abort_fill(key_of(sid), m->generation).ok());  // every chunk, manifest kept
  }
  s.restart_gateway();
  // The first chunk is read before the head goes out: nothing is sent yet, so the request misses
  // and gets the recording whole from the upstream.
  CHECK(get_whole(s, sid) == "MISS");
  CHECK(upstream_fetches(s, path) == 2);
}

TEST_CASE(
    "key rotation: old objects stay readable under a listed old key, refetched once it goes") {
  key_folder keys;
  const auto a = new_key_line("key-a");
  const auto b = new_key_line("key-b");
  auto file = keys.write({a});
  stack s(encrypted_with(file));
  const auto old_sid = laml_sim::sized_sid(321, 600000);
  const auto new_sid = laml_sim::sized_sid(322, 300000);
  CHECK(get_whole(s, old_sid) == "MISS");
  wait_for_hit(s, recording_path(old_sid, "wav"));

  // B becomes current; A stays listed: the old object is a hit, new fills are sealed under B.
  keys.write({b, a});
  s.restart_gateway();
  CHECK(get_whole(s, old_sid) == "HIT");
  CHECK(get_whole(s, new_sid) == "MISS");
  wait_for_hit(s, recording_path(new_sid, "wav"));
  CHECK(upstream_fetches(s, recording_path(old_sid, "wav")) == 1);
  s.stop_gateway();
  {
    auto st = open_raw(s);
    auto old_m = st->find(key_of(old_sid));
    auto new_m = st->find(key_of(new_sid));
    REQUIRE(old_m);
    REQUIRE(new_m);
    CHECK(old_m->key_id == "key-a");
    CHECK(new_m->key_id == "key-b");
    auto chunk = st->read_chunk(key_of(new_sid), new_m->generation, 0);
    REQUIRE(chunk);
    CHECK(recgate::cache::parse_sealed(chunk->bytes())->key_id == "key-b");
  }

  // A removed: the old object is not served (nor garbage): it is fetched again, under B.
  keys.write({b});
  s.restart_gateway();
  CHECK(get_whole(s, old_sid) == "MISS");
  CHECK(upstream_fetches(s, recording_path(old_sid, "wav")) == 2);
  CHECK(unreadable_count(s) == 1);
  CHECK(get_whole(s, new_sid) == "HIT");
  wait_for_hit(s, recording_path(old_sid, "wav"));
  CHECK(get_whole(s, old_sid) == "HIT");
  CHECK(upstream_fetches(s, recording_path(old_sid, "wav")) == 2);
}

TEST_CASE("turning encryption on or off: objects stored the other way are fetched again") {
  key_folder keys;
  auto file = keys.write({new_key_line("k1")});
  stack s(encrypted_with(""));
  const auto sid = laml_sim::sized_sid(331, 400000);
  const auto path = recording_path(sid, "wav");
  CHECK(get_whole(s, sid) == "MISS");
  wait_for_hit(s, path);

  // On: the plaintext object is never served as it is; it is refetched and sealed.
  set_key_file(s, file);
  s.restart_gateway();
  CHECK(get_whole(s, sid) == "MISS");
  CHECK(upstream_fetches(s, path) == 2);
  wait_for_hit(s, path);
  CHECK(get_whole(s, sid) == "HIT");

  // Off: the sealed object is not served as ciphertext; it is refetched as plaintext.
  set_key_file(s, "");
  s.restart_gateway();
  CHECK(get_whole(s, sid) == "MISS");
  CHECK(upstream_fetches(s, path) == 3);
  wait_for_hit(s, path);
  CHECK(get_whole(s, sid) == "HIT");
}

TEST_CASE("check-config validates the key file and never prints a key") {
  key_folder keys;
  auto line = new_key_line("k1");
  auto file = keys.write({line});
  stack s(encrypted_with(file));
  auto check_config = [&](const std::string& key_file_text, bool group_readable) {
    { std::ofstream(file, std::ios::trunc) << key_file_text; }
    auto perms = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
    if (group_readable) perms |= std::filesystem::perms::group_read;
    std::filesystem::permissions(file, perms);
    test_support::child_process p(
        {RECGATE_BIN, "check-config", "--config", s.config_path().string()});
    auto code = p.wait_exit(std::chrono::seconds(10));
    p.wait_for_line([](std::string_view) { return false; }, std::chrono::seconds(5));  // to its end
    std::string out;
    for (const auto& l : p.lines()) out += l + "\n";
    test_support::artifacts::save_output("check-config", p.lines());
    return std::pair{code.value_or(-1), out};
  };
  auto [ok_code, ok_out] = check_config(line + "\n", false);
  CHECK(ok_code == 0);
  CHECK(ok_out.find("encryption  key k1 from file " + file) != std::string::npos);
  CHECK(ok_out.find("warning") == std::string::npos);
  auto [loose_code, loose_out] = check_config(line + "\n", true);
  CHECK(loose_code == 0);
  CHECK(loose_out.find("chmod 600") != std::string::npos);
  auto [bad_code, bad_out] = check_config("k1:" + line.substr(3, 20) + "\n", false);
  CHECK(bad_code == 1);
  CHECK(bad_out.find("cache.encryption_key_file") != std::string::npos);
  CHECK(bad_out.find("must be 32 bytes") != std::string::npos);
  CHECK(bad_out.find(line.substr(3, 20)) == std::string::npos);
}
