#pragma once
// One object being fetched from the origin and written to the store, shared by every reader that
// wants it meanwhile (single flight). Owned by the cache's fill registry and by its readers, not
// by the client that started it, so it outlives that client.
//
// Bytes [0, durable) are in the store as full chunks; bytes [durable, available) are in memory
// (the tail, less than a chunk plus one read). Readers copy from either; the writer wakes them
// when available or the phase changes.
//
// Relaying: a fill that cannot be stored (the store failed a write, the body has no length, or
// it is larger than the cache) streams on to its readers without the store. Nothing more becomes
// durable; the tail keeps what some reader still needs, bytes [tail_start, available), and the
// writer reads on from the origin only while the tail holds less than its window (so memory stays
// bounded and the slowest reader sets the pace, as a proxy without a cache would). Readers mark
// where they are (attach) so the writer knows what it may drop; new requests never join a relay.
//
// Thread safety: all members may be called from any thread; state is guarded by a mutex that is
// never held across an await. Waiters are woken on their own executors.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "cache/object.hpp"
#include "cache/origin.hpp"
#include "util/net/async.hpp"

namespace recgate::cache {

class fill {
 public:
  enum class phase { head_pending, streaming, complete, failed };

  struct view {
    phase state = phase::head_pending;
    std::uint64_t durable = 0;
    std::uint64_t available = 0;
    std::uint64_t tail_start = 0;  // the first byte still in memory (== durable unless relaying)
  };

  fill(object_key key, std::uint64_t generation, std::uint32_t chunk_size);

  const object_key& key() const { return key_; }
  // Something the fill keeps for as long as it lives (the cache's lease on its generation).
  void keep(std::shared_ptr<void> held) { held_ = std::move(held); }
  std::uint64_t generation() const { return generation_; }
  std::uint32_t chunk_size() const { return chunk_size_; }

  // --- readers ---
  view snapshot() const;
  // The origin's head once known (returns at once after that).
  net::awaitable<origin_head> wait_head();
  // Returns once the fill has ended: complete or failed.
  net::awaitable<void> wait_end();
  // Returns when the fill has moved on from `seen` (more bytes, or a new phase), or after a
  // second as a safety net; the caller re-checks with snapshot().
  net::awaitable<void> wait_change(const view& seen);
  // Copies bytes at offset from the in-memory tail; 0 when offset is not in the tail (it is in
  // the store by now, or not here yet).
  std::size_t copy_tail(std::uint64_t offset, char* out, std::size_t size) const;
  // A reader's place, registered from `begin` for as long as the mark lives; the reader stores
  // each new position into it and calls advanced() while relaying.
  using reader_mark = std::shared_ptr<std::atomic<std::uint64_t>>;
  reader_mark attach(std::uint64_t begin);
  bool relaying() const { return relaying_.load(std::memory_order_acquire); }
  void advanced();  // a reader moved on: a writer waiting for room may go on

  // --- the writer ---
  void set_head(origin_head head, bool streaming);  // streaming false: the fill has failed
  void append(const char* data, std::size_t size);
  bool has_full_chunk() const;
  // Room for a chunk plus one read, reserved once the body starts, so the tail never regrows.
  void reserve_tail(std::size_t bytes);
  // The first chunk of the tail, in place. Prereq: has_full_chunk(); for the writer only, whose
  // own append and chunk_written are the only changes to the tail (readers just copy from it),
  // so the view holds until the writer's next call.
  std::string_view first_chunk() const;
  void chunk_written();           // the first tail chunk is now in the store
  std::string_view tail() const;  // in place, for the writer only, like first_chunk()
  void complete();  // the tail is in the store and the manifest committed (relaying: all arrived)
  void fail();
  // From now on nothing goes to the store: see "Relaying" above. Any thread, once.
  void start_relay();
  // Relaying: waits until the tail holds fewer than `window` bytes that a reader still needs
  // (dropping what every reader has passed). False when no reader is left to relay for: every
  // reader has gone, or none came within 10 s.
  net::awaitable<bool> wait_for_room(std::size_t window);
  // A purge while the fill runs: it must not commit. Any thread.
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  void wake_all(std::unique_lock<std::mutex>& lock);

  const object_key key_;
  const std::uint64_t generation_;
  std::shared_ptr<void> held_;
  const std::uint32_t chunk_size_;

  // Drops the front of the tail that every attached reader has passed. Prereq: mutex_ held,
  // relaying. Returns whether any reader is still attached.
  bool trim_locked();

  mutable std::mutex mutex_;
  phase phase_ = phase::head_pending;
  origin_head head_;
  std::uint64_t durable_ = 0;
  std::uint64_t tail_start_ = 0;  // offset of tail_[0]
  std::string tail_;
  std::vector<std::shared_ptr<net::steady_timer>> waiters_;
  std::vector<std::weak_ptr<std::atomic<std::uint64_t>>> readers_;
  std::shared_ptr<net::steady_timer> writer_waiting_;  // set while wait_for_room waits
  std::chrono::steady_clock::time_point relay_started_{};
  bool ever_read_ = false;  // a reader attached at some point
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> relaying_{false};
};

}  // namespace recgate::cache
