#include "cache/cache.hpp"

#include <chrono>

#include "util/clock.hpp"
#include "util/digest.hpp"

namespace recgate::cache {
namespace {

constexpr std::size_t max_negative_entries = 100000;

}  // namespace

result<std::unique_ptr<cache>> cache::open(const cache_options& options, net::any_io_executor io) {
  auto storage = options.storage;
  storage.on_health = options.on_store_health;
  auto st = store::open(storage);
  if (!st.ok()) return fail(st.error());
  return std::unique_ptr<cache>(new cache(options, std::move(*st), std::move(io)));
}

cache::cache(const cache_options& options, std::unique_ptr<store> st, net::any_io_executor io)
    : options_(options), store_(std::move(st)), io_(std::move(io)) {
  // A damaged object leaves at once (only that generation: a new fill may have replaced it), so
  // the next request misses and fetches it again instead of failing on it forever.
  store_->on_damaged(
      [this](const object_key& key, std::uint64_t generation, const std::string& why) {
        drop(key, generation, counters_.unreadable, "is damaged (" + why + ")");
      });
  for (const auto& e : store_->scan()) lru_.put(e.key.encoded(), e.length, e.last_access);
  reopens_seen_ = store_->reopens();
  enforce_limits();  // max_bytes may have been lowered since the last run
  net::co_spawn(writers_.get_executor(), maintain(), net::detached);
}

cache::~cache() {
  stopping_ = true;
  net::post(writers_.get_executor(), [this] { maintenance_timer_.cancel(); });
  writers_.join();
  std::vector<std::pair<object_key, std::int64_t>> accesses;
  for (auto& [k, when] : lru_.take_dirty()) {
    if (auto key = object_key::decode(k)) accesses.emplace_back(std::move(*key), when);
  }
  store_->record_access(accesses).ignore();  // best effort: last access times
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
  if (auto servable = store_->servable(key, *m); !servable.ok()) {
    // Never served: gone now, so this request misses and fills it again (under today's key).
    drop(key, m->generation, counters_.unreadable,
         "cannot be read back (" + servable.error() + ")");
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
         generation_unix(m.generation) + options_.storage.max_age_seconds < unix_now();
}

void cache::drop(const object_key& key, std::uint64_t generation,
                 std::atomic<std::uint64_t>& counter, std::string_view why) {
  auto removed = store_->remove(key, generation);
  lru_.erase(key.encoded());
  ++counter;
  if (why.empty() || !options_.warn) return;
  options_.warn("cache: " + key.encoded() + " " + std::string(why) + "; " +
                (removed.ok() ? "removed, it will be fetched again"
                              : "removing it failed: " + removed.error()));
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

cache::lease cache::take_lease(const object_key& key, std::uint64_t generation) {
  auto id = key.encoded() + "@" + std::to_string(generation);
  {
    std::lock_guard lock(lease_mutex_);
    ++leases_[id];
  }
  return lease(static_cast<void*>(nullptr), [this, id = std::move(id)](void*) {
    std::lock_guard lock(lease_mutex_);
    if (auto it = leases_.find(id); it != leases_.end() && --it->second == 0) leases_.erase(it);
  });
}

bool cache::in_use(const object_key& key, std::uint64_t generation) {
  {
    std::lock_guard lock(lease_mutex_);
    if (leases_.contains(key.encoded() + "@" + std::to_string(generation))) return true;
  }
  return fill_running(key, generation);
}

std::optional<cache::lookup> cache::leased_hit(const object_key& key, manifest m) {
  // Leased first, then checked still current: a removal after this waits for the lease, one
  // before it is seen here (the manifest is gone, or another generation's).
  auto held = take_lease(key, m.generation);
  auto now = store_->find(key);
  if (!now || now->generation != m.generation) return std::nullopt;
  return lookup{source::hit, std::move(m), nullptr, std::nullopt, std::move(held), nullptr};
}

cache::lookup cache::get(const object_key& key, const origin_fetch& fetch) {
  const auto encoded = key.encoded();
  if (auto m = find_fresh(key)) {
    if (auto hit = leased_hit(key, std::move(*m))) {
      ++counters_.hits;
      lru_.touch(encoded, unix_now());
      return std::move(*hit);
    }
  }
  if (auto head = remembered_404(encoded)) {
    ++counters_.negative_hits;
    return {source::negative, std::nullopt, nullptr, std::move(head), nullptr, nullptr};
  }
  if (store_->tombstoned(key.account_sid, key.sid)) {
    ++counters_.negative_hits;
    return deleted_lookup();
  }
  if (!store_->writable()) {
    // Nothing could be stored: the caller fetches and streams the origin's answer itself.
    ++counters_.bypasses;
    return {source::bypass, std::nullopt, nullptr, std::nullopt, nullptr, nullptr};
  }
  std::shared_ptr<fill> f;
  fill::reader_mark mark;
  {
    std::lock_guard lock(mutex_);
    if (auto it = fills_.find(encoded); it != fills_.end()) {
      ++counters_.streams;
      return {source::stream, std::nullopt, it->second,
              std::nullopt,   nullptr,      it->second->attach(0)};
    }
    // A fill may have committed and left the registry since the first look: look again while
    // holding the registry, so no request can join a fill that is never started. What may not be
    // served is left for the new fill's commit to replace (no removal under this lock).
    if (auto m = store_->find(key); m && store_->servable(key, *m).ok() && !expired(*m)) {
      if (auto hit = leased_hit(key, std::move(*m))) {
        ++counters_.hits;
        return std::move(*hit);
      }
    }
    f = std::make_shared<fill>(key, next_generation(), options_.chunk_size);
    f->keep(take_lease(key, f->generation()));  // its readers read its chunks after the commit
    mark = f->attach(0);
    fills_.emplace(encoded, f);
  }
  ++counters_.misses;
  net::co_spawn(net::make_strand(io_), run_fill(f, fetch), [](std::exception_ptr) {});
  return {source::miss, std::nullopt, f, std::nullopt, nullptr, std::move(mark)};
}

cache::lookup cache::deleted_lookup() {
  origin_head gone;
  gone.status = 404;
  return {source::negative, std::nullopt, nullptr, std::move(gone), nullptr, nullptr, true};
}

std::optional<cache::lookup> cache::peek(const object_key& key) {
  if (auto m = find_fresh(key)) {
    return lookup{source::hit, std::move(m), nullptr, std::nullopt, nullptr, nullptr};
  }
  {
    std::lock_guard lock(mutex_);
    auto it = fills_.find(key.encoded());
    if (it != fills_.end()) {
      return lookup{source::stream, std::nullopt, it->second, std::nullopt, nullptr, nullptr};
    }
  }
  if (store_->tombstoned(key.account_sid, key.sid)) return deleted_lookup();
  return std::nullopt;
}

result<std::uint64_t> cache::remove_deleted(const std::string& account_sid,
                                            const std::string& sid) {
  auto purged = purge(account_sid, sid);
  if (!purged.ok()) return purged;
  if (auto kept = store_->put_tombstone(account_sid, sid, unix_now()); !kept.ok()) {
    return fail(kept.error());
  }
  return purged;
}

bool cache::deleted(const std::string& account_sid, const std::string& sid) {
  return store_->tombstoned(account_sid, sid);
}

result<std::uint64_t> cache::purge(const std::string& account_sid, const std::string& sid) {
  {
    // First stop fills running now: one would commit the recording again after the purge. A
    // fill checks this after its commit, so whichever comes second removes the object.
    // Every format and every derived object (peaks): the keys under the recording's prefix.
    const std::string prefix = account_sid + "/" + sid + "/";
    std::lock_guard lock(mutex_);
    for (auto& [encoded, f] : fills_) {
      if (encoded.starts_with(prefix)) f->cancel();
    }
    std::erase_if(negative_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
  }
  // Every object in one write: all go, or (the store failed) all stay, and stay counted.
  auto removed = store_->remove_recording(account_sid, sid);
  if (!removed.ok()) return fail(removed.error());
  for (const auto& encoded : *removed) lru_.erase(encoded);
  return std::uint64_t{removed->size()};
}

cache_stats cache::stats() {
  cache_stats s;
  s.objects = lru_.objects();
  s.bytes = lru_.total_bytes();
  s.max_bytes = options_.max_bytes;
  s.store = store_->health();
  s.write_failures = store_->write_failures();
  s.blob_garbage_bytes = store_->blobs().garbage;
  s.held_chunk_bytes = store_->held_chunk_bytes();
  s.tombstones = store_->tombstones();
  {
    std::lock_guard lock(disk_mutex_);
    s.disk = disk_;
    if (disk_) s.min_free_bytes = min_free(*disk_);
  }
  std::lock_guard lock(mutex_);
  s.fills_in_progress = fills_.size();
  return s;
}

std::uint64_t cache::min_free(const disk_usage& u) const {
  if (options_.min_free_bytes > 0) return options_.min_free_bytes;
  // Room for the store's own writes beyond the audio (so its own fills never fill the disk), and
  // 5% of the filesystem for everyone else, at most 1 GiB: never more than half of it.
  const std::uint64_t floor = std::max(u.filesystem / 20, store_->overhead_bytes());
  return std::min({floor, std::uint64_t{1} << 30, u.filesystem / 2});
}

std::uint64_t cache::evict(const std::vector<std::string>& keys) {
  std::uint64_t freed = 0;
  for (const auto& encoded : keys) {
    auto key = object_key::decode(encoded);
    if (!key) continue;
    auto m = store_->find(*key);
    if (!store_->remove(*key).ok()) break;  // the store fails: the rest stays, and stays counted
    lru_.erase(encoded);
    if (m) freed += m->length;
    ++counters_.evictions;
  }
  return freed;
}

// Below the floor: the least recently used leave until the floor holds again. An object's
// audio shares blob files with others', so evicting N bytes may give back less than N: measure
// after each round and go on (a few rounds a call). Garbage collection (rewriting the live
// chunks beside dead ones) only as far as the room it needs is there, at most twice a minute.
std::optional<disk_usage> cache::make_room(std::uint64_t reserved) {
  auto gone = [this](const object_key& key, std::uint64_t generation) {
    return in_use(key, generation);
  };
  auto u = store_->usage();
  auto short_of = [&] { return u && u->free < min_free(*u) + reserved; };
  for (int round = 0; round < 4 && short_of(); ++round) {
    // No object left to evict: one round still gives back what removed objects left behind
    // (their chunks, garbage in blob files), else the floor could stay unmet for good.
    const bool evictable = lru_.objects() > 0;
    if (!evictable && round > 0) break;
    const auto need = min_free(*u) + reserved - u->free;
    const auto free_before = u->free;
    const auto total = lru_.total_bytes();
    auto before = counters_.evictions.load();
    evict(lru_.oldest_beyond(total - std::min(total, need)));
    counters_.evictions_for_space += counters_.evictions.load() - before;
    store_->remove_stale_fills(gone);  // what nobody reads goes now; the rest once read
    store_->reclaim().ignore();        // maintenance: tried again next round
    unreclaimed_ = 0;
    u = store_->usage();
    // Nothing was evicted and nothing came back: what is left is held by readers (or by others).
    // Evicting without an immediate gain goes on for the rounds left: RocksDB writes the
    // memtable it flushes before it deletes what the eviction freed, so a round can end with
    // less free space than it began with and the next one with more.
    if (evictable && short_of() && u->free <= free_before && counters_.evictions.load() == before) {
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (!short_of() || now - last_garbage_collection_ < std::chrono::seconds(30)) continue;
    // Room for the rewrite beside the fills under way and half the store's own overhead.
    const auto keep = reserved + store_->overhead_bytes() / 2;
    if (u->free <= keep) continue;
    last_garbage_collection_ = now;
    store_->reclaim(u->free - keep).ignore();
    u = store_->usage();
    if (options_.info && u) {
      options_.info("cache: blob garbage collected; " + std::to_string(u->free >> 20) +
                    " MiB free on the cache's filesystem");
    }
  }
  return u;
}

void cache::enforce_limits() {
  // Chunks of removed objects that nobody reads any more, and of relays that have ended.
  auto gone = [this](const object_key& key, std::uint64_t generation) {
    return in_use(key, generation);
  };
  if (store_->writable()) store_->remove_stale_fills(gone);
  if (store_->writable()) {
    // What the running fills will still write counts as if it were there already.
    const auto reserved = reserved_bytes_.load();
    if (options_.max_bytes > 0) {
      unreclaimed_ +=
          evict(lru_.oldest_beyond(options_.max_bytes - std::min(options_.max_bytes, reserved)));
      // The blob files of evicted objects go once a compaction of the (small) chunk index drops
      // their entries: made here every max_bytes/256 evicted (at least 16 MiB), rather than
      // whenever RocksDB would, so they stay within the README's sizing rule.
      if (unreclaimed_ >= std::max<std::uint64_t>(options_.max_bytes / 256, 16 << 20)) {
        store_->reclaim().ignore();  // maintenance: tried again next round
        unreclaimed_ = 0;
      }
    }
    auto u = store_->usage();
    if (u && u->free < min_free(*u) + reserved) u = make_room(reserved);
    std::lock_guard lock(disk_mutex_);
    disk_ = u;
  } else {
    std::lock_guard lock(disk_mutex_);
    disk_ = store_->usage();
  }
  std::vector<std::pair<object_key, std::int64_t>> accesses;
  for (auto& [k, when] : lru_.take_dirty()) {
    if (auto key = object_key::decode(k)) accesses.emplace_back(std::move(*key), when);
  }
  if (!accesses.empty() && store_->writable()) store_->record_access(accesses).ignore();
}

result<void> cache::admit(std::uint64_t length) {
  if (options_.max_bytes > 0 && length > options_.max_bytes)
    return fail("larger than cache.max_bytes");
  auto u = store_->usage();
  if (u && length + min_free(*u) > u->filesystem)
    return fail("larger than the cache's filesystem allows");
  reserved_bytes_ += length;
  // Room is made only when it is short: most fills start without touching the disk here.
  const auto reserved = reserved_bytes_.load();
  bool over_max = options_.max_bytes > 0 && lru_.total_bytes() + reserved > options_.max_bytes;
  if (over_max || (u && u->free < min_free(*u) + reserved)) {
    enforce_limits();
    u = store_->usage();
  }
  if (u && u->free < min_free(*u) + reserved_bytes_.load()) {
    reserved_bytes_ -= length;
    return fail("no room on the cache's filesystem");
  }
  return {};
}

bool cache::fill_running(const object_key& key, std::uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (auto it = fills_.find(key.encoded());
      it != fills_.end() && it->second->generation() == generation) {
    return true;
  }
  std::erase_if(relays_, [](const auto& r) { return r.expired(); });
  for (const auto& r : relays_) {
    if (auto f = r.lock(); f && f->generation() == generation && f->key() == key) return true;
  }
  return false;
}

void cache::recover_store() {
  auto now = std::chrono::steady_clock::now();
  if (now < next_recovery_) return;
  // A store that has failed for two minutes on a disk too full to reopen it is wiped.
  if (failing_since_ == std::chrono::steady_clock::time_point{}) failing_since_ = now;
  bool wipe = now - failing_since_ > std::chrono::minutes(2);
  auto needed = [this](const object_key& key, std::uint64_t generation) {
    return in_use(key, generation);
  };
  auto recovered = store_->recover(wipe, needed);
  if (!recovered.ok()) {
    next_recovery_ = now + recovery_backoff_;
    recovery_backoff_ = std::min(recovery_backoff_ * 2, std::chrono::seconds(30));
    if (options_.info) {
      options_.info(
          "cache: the store still takes no writes (" + recovered.error() + "); next try in " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(next_recovery_ - now).count()) +
          " s");
    }
    return;
  }
  failing_since_ = {};
  if (*recovered == store::recovery::wiped && options_.warn) {
    options_.warn(
        "cache: the disk was full for two minutes with nothing left to evict: the "
        "store was emptied to work again");
  }
  // A store that fails again soon after it came back (a disk that stays nearly full) is tried
  // less and less often; one that held for a minute starts over at a second.
  if (now - last_recovery_ > std::chrono::minutes(1)) recovery_backoff_ = std::chrono::seconds(1);
  next_recovery_ = now + recovery_backoff_;
  last_recovery_ = now;
  ++counters_.recoveries;
  if (store_->reopens() != reopens_seen_) {
    // A new database (the folder was gone): what the index knew is gone with the old one.
    reopens_seen_ = store_->reopens();
    lru_.clear();
    for (const auto& e : store_->scan()) lru_.put(e.key.encoded(), e.length, e.last_access);
    if (options_.info)
      options_.info("cache: the store was reopened; it holds " + std::to_string(lru_.objects()) +
                    " objects");
  }
  // Chunks of fills that could not be aborted while the store failed.
  auto removed = store_->remove_stale_fills(
      [this](const object_key& key, std::uint64_t generation) { return in_use(key, generation); });
  if (removed > 0 && options_.info) {
    options_.info("cache: removed " + std::to_string(removed) +
                  " fills left behind while the store failed");
  }
}

net::awaitable<void> cache::maintain() {
  for (unsigned tick = 1; !stopping_; ++tick) {
    maintenance_timer_.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await maintenance_timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (stopping_) break;
    try {
      if (store_->writable()) store_->check_folder();
      if (!store_->writable()) recover_store();
      enforce_limits();
      (void)tick;
    } catch (const std::exception& e) {
      // Never the end of maintenance: say so, and try again next time.
      if (options_.warn) options_.warn(std::string("cache: maintenance failed: ") + e.what());
    }
  }
}

void cache::relay(const std::shared_ptr<fill>& f, const std::string& why) {
  if (f->relaying()) return;
  f->start_relay();
  ++counters_.relays;
  {
    std::lock_guard lock(mutex_);
    auto it = fills_.find(f->key().encoded());
    if (it != fills_.end() && it->second == f) fills_.erase(it);
    std::erase_if(relays_, [](const auto& r) { return r.expired(); });
    relays_.push_back(f);
  }
  if (options_.info)
    options_.info("cache: " + f->key().encoded() + " is streamed without being stored: " + why);
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

net::awaitable<cache::fill_end> cache::stream_and_commit(const std::shared_ptr<fill>& f,
                                                         origin_response& response) {
  const auto& key = f->key();
  const auto expected_length = response.head.length;
  manifest m;
  m.content_type = response.head.content_type;
  m.last_modified = response.head.last_modified;
  m.generation = f->generation();
  m.chunk_size = f->chunk_size();
  f->reserve_tail(f->chunk_size() + options_.read_buffer_bytes);

  // Stored only with a length (a body cut short without one looks complete), when there is room
  // for it (made now, by eviction), and while the store takes writes; otherwise streamed on.
  bool storing = expected_length.has_value();
  std::string why = storing ? "" : "the origin sent no length";
  // What this fill was admitted for and has not written yet; released whatever happens.
  struct reservation {
    std::atomic<std::uint64_t>& total;
    std::uint64_t left = 0;
    void written(std::uint64_t n) {
      n = std::min(n, left);
      left -= n;
      total -= n;
    }
    ~reservation() { total -= left; }
  } reserved{reserved_bytes_};
  if (storing) {
    (co_await on_writer([&]() -> store::result {
      auto admitted = admit(*expected_length);
      storing = admitted.ok();
      if (!storing) why = admitted.error();
      return {};
    })).ignore();
    if (storing) reserved.left = *expected_length;
  }
  if (storing) {
    auto begun = co_await on_writer([&] { return store_->begin_fill(key, f->generation()); });
    if (!begun.ok()) {
      storing = false;
      why = "the store failed a write (" + begun.error() + ")";
    }
  }
  if (expected_length) f->set_head(response.head, true);
  if (!storing) relay(f, why);

  sha256_stream digest;
  std::uint64_t total = 0;
  std::uint32_t index = 0;
  const std::size_t window = f->chunk_size() + options_.read_buffer_bytes;
  std::string buffer(options_.read_buffer_bytes, '\0');
  for (;;) {
    // A relay reads on only as its slowest reader makes room; with no reader left, it stops.
    if (f->relaying() && !co_await f->wait_for_room(window)) co_return fill_end::abandoned;
    boost::system::error_code ec;
    std::size_t n = co_await response.body->read_some(net::buffer(buffer), ec);
    if (ec) co_return fill_end::failed;
    if (storing && f->cancelled()) {
      // Purged meanwhile: nothing of it is stored any more, but the responses reading it finish.
      storing = false;
      relay(f, "purged while it was being fetched");
    }
    if (n == 0) break;
    digest.update(buffer.data(), n);
    total += n;
    counters_.bytes_from_origin += n;
    f->append(buffer.data(), n);
    while (storing && f->has_full_chunk()) {
      auto chunk = f->first_chunk();  // in place: a chunk is never copied before its write
      auto put =
          co_await on_writer([&] { return store_->put_chunk(key, f->generation(), index, chunk); });
      if (!put.ok()) {
        // Its readers still get every byte; the chunks written so far stay until they are done.
        storing = false;
        relay(f, "the store failed a write (" + put.error() + ")");
        break;
      }
      f->chunk_written();
      reserved.written(f->chunk_size());
      ++index;
    }
  }
  if (expected_length && total != *expected_length) co_return fill_end::failed;
  if (storing && f->cancelled()) {
    storing = false;
    relay(f, "purged while it was being fetched");
  }
  if (storing) {
    m.length = total;
    m.sha256_hex = digest.final_hex();
    m.created_unix = unix_now();
    auto last = f->tail();  // in place, as the chunks before it
    auto committed = co_await on_writer([&] { return store_->commit(key, m, last); });
    if (!committed.ok()) {
      relay(f, "the store failed to commit it (" + committed.error() + ")");
      storing = false;
    }
  }
  if (!storing) {
    f->complete();  // relaying: the readers read the rest from memory
    co_return fill_end::relayed;
  }
  co_return fill_end::committed;
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
    f->set_head(response.head, true);
  }
  auto end = fill_end::failed;
  try {
    end = co_await stream_and_commit(f, response);
  } catch (const std::exception&) {
    end = fill_end::failed;  // e.g. an exception thrown through the writer pool
  }
  if (end == fill_end::relayed) {
    finish(f);
    co_return;
  }
  if (end != fill_end::committed) {
    // While the store fails the chunks stay (with their marker) until it recovers.
    if (store_->writable())
      (co_await on_writer([&] { return store_->abort_fill(key, f->generation()); })).ignore();
    if (f->snapshot().state != fill::phase::complete) f->fail();
    if (end == fill_end::failed) ++counters_.fills_failed;
    finish(f);
    co_return;
  }
  if (f->cancelled()) {
    // Purged while the commit was on its way: take it back out. Its chunks stay for the
    // responses reading them (the fill's lease), which finish.
    (co_await on_writer([&] { return store_->remove(key); })).ignore();
    f->complete();
    finish(f);
    co_return;
  }
  auto m = store_->find(key);
  if (m) lru_.put(key.encoded(), m->length, m->created_unix);
  f->complete();
  ++counters_.fills_committed;
  finish(f);
  // Eviction and access bookkeeping are disk writes: on the writer pool, off this executor.
  (co_await on_writer([&]() -> store::result {
    enforce_limits();
    return {};
  })).ignore();
}

}  // namespace recgate::cache
