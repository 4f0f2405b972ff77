#include "cache/cache.hpp"

#include <chrono>

#include <openssl/evp.h>

#include "cache/bytes.hpp"

namespace recgate::cache {
namespace {

constexpr std::size_t max_negative_entries = 100000;

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct digest_context {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  digest_context() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~digest_context() { EVP_MD_CTX_free(ctx); }
  void update(const char* data, std::size_t n) { EVP_DigestUpdate(ctx, data, n); }
  std::string final_hex() {
    unsigned char out[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, out, &len);
    return hex(out, len);
  }
};

}  // namespace

std::unique_ptr<cache> cache::open(const cache_options& options, net::any_io_executor io,
                                   std::string& error) {
  auto st = store::open(options.storage, error);
  if (!st) return nullptr;
  return std::unique_ptr<cache>(new cache(options, std::move(st), std::move(io)));
}

cache::cache(const cache_options& options, std::unique_ptr<store> st, net::any_io_executor io)
    : options_(options), store_(std::move(st)), io_(std::move(io)) {
  // A damaged object leaves at once (only that generation: a new fill may have replaced it), so
  // the next request misses and fetches it again instead of failing on it forever.
  store_->on_damaged([this](const object_key& key, std::uint64_t generation, const std::string& why) {
    drop(key, generation, counters_.unreadable, "is damaged (" + why + ")");
  });
  for (const auto& e : store_->scan()) lru_.put(e.key.encoded(), e.length, e.last_access);
  enforce_limits();  // max_bytes may have been lowered since the last run
}

cache::~cache() {
  writers_.join();
  std::vector<std::pair<object_key, std::int64_t>> accesses;
  for (auto& [k, when] : lru_.take_dirty()) {
    if (auto key = object_key::decode(k)) accesses.emplace_back(std::move(*key), when);
  }
  store_->record_access(accesses);
}

std::uint64_t cache::next_generation() {
  // Generations are the fill's start in microseconds since the epoch (expiry reads them from
  // chunk keys), made unique by counting up past the last one.
  auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
  last_generation_ = std::max(now, last_generation_ + 1);
  return last_generation_;
}

std::optional<manifest> cache::find_fresh(const object_key& key) {
  auto m = store_->find(key);
  if (!m) return m;
  if (auto why = store_->unreadable_reason(key, *m)) {
    // Never served: gone now, so this request misses and fills it again (under today's key).
    drop(key, m->generation, counters_.unreadable, "cannot be read back (" + *why + ")");
    return std::nullopt;
  }
  if (expired(*m)) {
    // Gone for every reader from now on, whether or not compaction has run yet.
    drop(key, m->generation, counters_.expirations, {});
    return std::nullopt;
  }
  return m;
}

bool cache::expired(const manifest& m) const {
  return options_.storage.max_age_seconds > 0 &&
         generation_unix(m.generation) + options_.storage.max_age_seconds < now_unix();
}

void cache::drop(const object_key& key, std::uint64_t generation,
                 std::atomic<std::uint64_t>& counter, std::string_view why) {
  auto err = store_->remove(key, generation);
  lru_.erase(key.encoded());
  ++counter;
  if (why.empty() || !options_.warn) return;
  options_.warn("cache: " + key.encoded() + " " + std::string(why) + "; " +
                (err ? "removing it failed: " + *err : "removed, it will be fetched again"));
}

std::optional<origin_head> cache::remembered_404(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = negative_.find(key);
  if (it == negative_.end()) return std::nullopt;
  if (it->second.until <= std::chrono::steady_clock::now()) {
    negative_.erase(it);
    return std::nullopt;
  }
  return it->second.head;
}

cache::lookup cache::get(const object_key& key, const origin_fetch& fetch) {
  const auto encoded = key.encoded();
  if (auto m = find_fresh(key)) {
    ++counters_.hits;
    lru_.touch(encoded, now_unix());
    return {source::hit, std::move(m), nullptr, std::nullopt};
  }
  if (auto head = remembered_404(encoded)) {
    ++counters_.negative_hits;
    return {source::negative, std::nullopt, nullptr, std::move(head)};
  }
  std::shared_ptr<fill> f;
  {
    std::lock_guard lock(mutex_);
    if (auto it = fills_.find(encoded); it != fills_.end()) {
      ++counters_.streams;
      return {source::stream, std::nullopt, it->second, std::nullopt};
    }
    // A fill may have committed and left the registry since the first look: look again while
    // holding the registry, so no request can join a fill that is never started. What may not be
    // served is left for the new fill's commit to replace (no removal under this lock).
    if (auto m = store_->find(key); m && !store_->unreadable_reason(key, *m) && !expired(*m)) {
      ++counters_.hits;
      return {source::hit, std::move(m), nullptr, std::nullopt};
    }
    f = std::make_shared<fill>(key, next_generation(), options_.chunk_size);
    fills_.emplace(encoded, f);
  }
  ++counters_.misses;
  net::co_spawn(net::make_strand(io_), run_fill(f, fetch), [](std::exception_ptr) {});
  return {source::miss, std::nullopt, f, std::nullopt};
}

std::optional<cache::lookup> cache::peek(const object_key& key) {
  if (auto m = find_fresh(key)) return lookup{source::hit, std::move(m), nullptr, std::nullopt};
  std::lock_guard lock(mutex_);
  auto it = fills_.find(key.encoded());
  if (it == fills_.end()) return std::nullopt;
  return lookup{source::stream, std::nullopt, it->second, std::nullopt};
}

std::uint64_t cache::purge(const std::string& account_sid, const std::string& sid,
                           std::string& error) {
  {
    // First stop fills running now: one would commit the recording again after the purge. A
    // fill checks this after its commit, so whichever comes second removes the object.
    std::lock_guard lock(mutex_);
    for (const char* format : {"wav", "mp3"}) {
      auto encoded = object_key{account_sid, sid, format}.encoded();
      if (auto it = fills_.find(encoded); it != fills_.end()) it->second->cancel();
      negative_.erase(encoded);
    }
  }
  auto removed = store_->remove_recording(account_sid, sid, error);
  for (const char* format : {"wav", "mp3"}) lru_.erase(object_key{account_sid, sid, format}.encoded());
  return removed;
}

cache_stats cache::stats() {
  cache_stats s;
  s.objects = lru_.objects();
  s.bytes = lru_.total_bytes();
  s.max_bytes = options_.max_bytes;
  std::lock_guard lock(mutex_);
  s.fills_in_progress = fills_.size();
  return s;
}

void cache::enforce_limits() {
  if (options_.max_bytes > 0) {
    for (const auto& encoded : lru_.evict_to(options_.max_bytes)) {
      if (auto key = object_key::decode(encoded)) {
        store_->remove(*key);
        ++counters_.evictions;
      }
    }
  }
  std::vector<std::pair<object_key, std::int64_t>> accesses;
  for (auto& [k, when] : lru_.take_dirty()) {
    if (auto key = object_key::decode(k)) accesses.emplace_back(std::move(*key), when);
  }
  if (!accesses.empty()) store_->record_access(accesses);
}

void cache::finish(const std::shared_ptr<fill>& f) {
  std::lock_guard lock(mutex_);
  auto it = fills_.find(f->key().encoded());
  if (it != fills_.end() && it->second == f) fills_.erase(it);
}

template <class F>
net::awaitable<store::result> cache::on_writer(F f) {
  co_return co_await net::co_spawn(
      writers_.get_executor(), [&]() -> net::awaitable<store::result> { co_return f(); },
      net::use_awaitable);
}

net::awaitable<bool> cache::stream_and_commit(const std::shared_ptr<fill>& f,
                                             origin_response& response) {
  const auto& key = f->key();
  auto expected_length = response.head.length;
  manifest m;
  m.content_type = response.head.content_type;
  m.last_modified = response.head.last_modified;
  m.generation = f->generation();
  m.chunk_size = f->chunk_size();
  if (response.head.length) f->set_head(response.head, true);
  f->reserve_tail(f->chunk_size() + options_.read_buffer_bytes);

  if (co_await on_writer([&] { return store_->begin_fill(key, f->generation()); })) {
    co_return false;
  }
  digest_context digest;
  std::uint64_t total = 0;
  std::uint32_t index = 0;
  std::string buffer(options_.read_buffer_bytes, '\0');
  for (;;) {
    boost::system::error_code ec;
    std::size_t n = co_await response.body->read_some(net::buffer(buffer), ec);
    if (ec || f->cancelled()) co_return false;
    if (n == 0) break;
    digest.update(buffer.data(), n);
    total += n;
    counters_.bytes_from_origin += n;
    f->append(buffer.data(), n);
    while (f->has_full_chunk()) {
      auto chunk = f->first_chunk();  // in place: a chunk is never copied before its write
      if (co_await on_writer([&] { return store_->put_chunk(key, f->generation(), index, chunk); })) {
        co_return false;
      }
      f->chunk_written();
      ++index;
    }
  }
  if (!expected_length) {
    // Unframed: its readers have every byte; let them finish, but keep nothing.
    f->complete();
    co_return false;
  }
  if (total != *expected_length) co_return false;
  m.length = total;
  m.sha256_hex = digest.final_hex();
  m.created_unix = now_unix();
  auto last = f->tail();  // in place, as the chunks before it
  if (co_await on_writer([&] { return store_->commit(key, m, last); })) co_return false;
  co_return true;
}

net::awaitable<void> cache::run_fill(std::shared_ptr<fill> f, origin_fetch fetch) {
  const auto& key = f->key();
  origin_response response;
  try {
    response = co_await fetch(key);
  } catch (const std::exception& e) {
    response.head = origin_head{};
    response.head.detail = e.what();
  }
  if (response.head.status != 200 || !response.body) {
    // Small bodies only (an upstream 404 is a few hundred bytes): memory stays bounded.
    if (response.head.status == 404 && options_.negative_ttl.count() > 0 &&
        response.head.error_body.size() <= 4096) {
      std::lock_guard lock(mutex_);
      auto now = std::chrono::steady_clock::now();
      // Bounded: a flood of distinct missing Sids must not grow this without end.
      if (negative_.size() >= max_negative_entries) {
        std::erase_if(negative_, [&](const auto& e) { return e.second.until <= now; });
      }
      if (negative_.size() < max_negative_entries) {
        negative_[key.encoded()] = {response.head, now + options_.negative_ttl};
      }
    }
    f->set_head(std::move(response.head), false);
    ++counters_.fills_failed;
    finish(f);
    co_return;
  }
  if (!response.head.length) {
    // Without a Content-Length a body cut short by the upstream closing looks complete: it is
    // streamed to its readers but never committed.
    f->set_head(std::move(response.head), true);
  }
  bool committed = false;
  try {
    committed = co_await stream_and_commit(f, response);
  } catch (const std::exception&) {
    committed = false;  // e.g. a store error thrown through the writer pool
  }
  if (!committed) {
    co_await on_writer([&] { return store_->abort_fill(key, f->generation()); });
    if (f->snapshot().state != fill::phase::complete) f->fail();
    ++counters_.fills_failed;
    finish(f);
    co_return;
  }
  if (f->cancelled()) {
    // Purged while the commit was on its way: take it back out.
    co_await on_writer([&] { return store_->remove(key); });
    f->fail();
    finish(f);
    co_return;
  }
  auto m = store_->find(key);
  if (m) lru_.put(key.encoded(), m->length, m->created_unix);
  f->complete();
  ++counters_.fills_committed;
  finish(f);
  // Eviction and access bookkeeping are disk writes: on the writer pool, off this executor.
  co_await on_writer([&]() -> store::result {
    enforce_limits();
    return std::nullopt;
  });
}

}  // namespace recgate::cache
