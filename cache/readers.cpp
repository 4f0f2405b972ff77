#include "cache/readers.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstring>
#include <limits>

namespace recgate::cache {
namespace {

// Views of stored chunks, keeping the last chunk read (pinned in RocksDB's cache).
class chunk_cursor {
 public:
  chunk_cursor(store& st, object_key key, std::uint64_t generation, std::uint32_t chunk_size,
               bool keep_in_cache)
      : store_(st),
        key_(std::move(key)),
        generation_(generation),
        chunk_size_(chunk_size),
        keep_in_cache_(keep_in_cache) {}

  // The bytes from offset to the end of the chunk holding it; empty when that chunk is missing
  // or (unavailable()) the database is being reopened.
  std::string_view view(std::uint64_t offset) {
    auto index = static_cast<std::uint32_t>(offset / chunk_size_);
    unavailable_ = false;
    if (index != cached_index_) {
      cached_.reset();  // unpin the previous chunk first
      cached_index_ = std::numeric_limits<std::uint32_t>::max();
      cached_ = store_.read_chunk(key_, generation_, index, keep_in_cache_, &unavailable_);
      if (!cached_) return {};
      cached_index_ = index;
    }
    auto from = static_cast<std::size_t>(offset % chunk_size_);
    if (from >= cached_->size()) return {};
    return cached_->bytes().substr(from);
  }

  bool unavailable() const { return unavailable_; }

  // Chunk `index` on its own, not kept by the cursor (the caller holds it).
  std::optional<chunk> read(std::uint32_t index) {
    return store_.read_chunk(key_, generation_, index, keep_in_cache_, &unavailable_);
  }
  std::uint32_t chunk_size() const { return chunk_size_; }

  // Lets go of the chunk held (its pin, or its copy); the next view reads it again.
  void release() {
    cached_.reset();
    cached_index_ = std::numeric_limits<std::uint32_t>::max();
  }

  // The same, waiting out a reopen of the store's database (a few seconds at most).
  net::awaitable<std::string_view> view_waiting(std::uint64_t offset) {
    auto view = this->view(offset);
    for (int tries = 0; view.empty() && unavailable_ && tries < 100; ++tries) {
      net::steady_timer pause(co_await net::this_coro::executor, std::chrono::milliseconds(50));
      boost::system::error_code ec;
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      view = this->view(offset);
    }
    co_return view;
  }

 private:
  store& store_;
  object_key key_;
  std::uint64_t generation_;
  std::uint32_t chunk_size_;
  bool keep_in_cache_;
  std::uint32_t cached_index_ = std::numeric_limits<std::uint32_t>::max();
  std::optional<chunk> cached_;
  bool unavailable_ = false;
};

boost::system::error_code io_error() {
  return boost::system::errc::make_error_code(boost::system::errc::io_error);
}

// read_some for sources that serve views: copies the next view into the caller's buffer.
net::awaitable<std::size_t> copy_next(body_source& source, net::mutable_buffer buffer,
                                      boost::system::error_code& ec) {
  if (buffer.size() == 0) co_return 0;
  body_scratch lent(buffer);
  auto view = co_await source.next(lent, buffer.size(), ec);
  // (At the end the view is empty, its data possibly null: nothing to copy.)
  if (view.size() > 0 && view.data() != buffer.data()) {
    std::memcpy(buffer.data(), view.data(), view.size());
  }
  co_return view.size();
}

// Copies up to `max` bytes of `view` into the scratch buffer, so the chunk it points into can be
// let go (prefer_copies).
net::const_buffer copy_out(std::string_view view, body_scratch& scratch, std::size_t max) {
  auto buffer = scratch.get();
  auto n = std::min({view.size(), max, buffer.size()});
  std::memcpy(buffer.data(), view.data(), n);
  return net::const_buffer(buffer.data(), n);
}

class committed_reader final : public body_source {
 public:
  committed_reader(store& st, object_key key, const manifest& m, std::uint64_t begin,
                   std::uint64_t end)
      : cursor_(st, std::move(key), m.generation, m.chunk_size, true), pos_(begin), end_(end) {}

  std::optional<std::uint64_t> content_length() const override { return end_ - pos_; }
  bool immediate() const override { return true; }
  void prefer_copies() override {
    copies_ = true;
    for (auto& c : more_) c.reset();
  }

  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        boost::system::error_code& ec) override {
    co_return co_await copy_next(*this, buffer, ec);
  }

  net::awaitable<net::const_buffer> next(body_scratch& scratch, std::size_t max,
                                         boost::system::error_code& ec) override {
    if (auto now = next_now(scratch, max, ec)) co_return *now;
    co_return take(co_await cursor_.view_waiting(pos_), scratch, max, ec);
  }

  // The chunk at pos_ through the cursor, then whole chunks after it while they are readable
  // at once, up to max_views and `max` bytes in all: held here until the next call.
  // A chunk that cannot be read ends the gather; the next call's next() reports it.
  net::awaitable<std::size_t> next_views(body_scratch& scratch, std::size_t max,
                                         std::span<net::const_buffer> out,
                                         boost::system::error_code& ec) override {
    for (auto& c : more_) c.reset();
    if (out.empty()) co_return 0;
    // (No coroutine frame of next() on the way of every hit: only while the store reopens.)
    auto now = next_now(scratch, max, ec);
    auto first = now ? *now : co_await next(scratch, max, ec);
    if (ec || first.size() == 0) co_return 0;
    out[0] = first;
    std::size_t count = 1;
    std::size_t total = first.size();
    const std::uint32_t chunk_size = cursor_.chunk_size();
    while (!copies_ && count < out.size() && count < max_views && pos_ < end_ && total < max &&
           pos_ % chunk_size == 0) {
      auto& held = more_[count - 1];
      held = cursor_.read(static_cast<std::uint32_t>(pos_ / chunk_size));
      if (!held || held->size() == 0) {
        held.reset();
        break;
      }
      auto n = static_cast<std::size_t>(
          std::min<std::uint64_t>({held->size(), max - total, end_ - pos_}));
      out[count++] = net::const_buffer(held->bytes().data(), n);
      pos_ += n;
      total += n;
    }
    co_return count;
  }

 private:
  // The next view when it can be had without waiting; nullopt while the store's database is
  // being reopened (next() waits that out).
  std::optional<net::const_buffer> next_now(body_scratch& scratch, std::size_t max,
                                            boost::system::error_code& ec) {
    ec = {};
    if (pos_ >= end_) return net::const_buffer();
    auto view = cursor_.view(pos_);
    if (view.empty() && cursor_.unavailable()) return std::nullopt;
    return take(view, scratch, max, ec);
  }

  // Up to `max` bytes of `view` (the chunk at pos_ onwards) as the next view, copied out when
  // the client is slow; an empty view is damage.
  net::const_buffer take(std::string_view view, body_scratch& scratch, std::size_t max,
                         boost::system::error_code& ec) {
    if (view.empty()) {
      // The manifest promised this chunk: the object is damaged (or was purged meanwhile).
      ec = io_error();
      return net::const_buffer();
    }
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>({view.size(), max, end_ - pos_}));
    if (copies_) {
      auto copied = copy_out(view.substr(0, n), scratch, n);
      cursor_.release();
      pos_ += copied.size();
      return copied;
    }
    pos_ += n;
    return net::const_buffer(view.data(), n);
  }

  chunk_cursor cursor_;
  std::uint64_t pos_;
  std::uint64_t end_;
  bool copies_ = false;
  std::array<std::optional<chunk>, max_views - 1> more_;  // the chunks after the cursor's
};

class fill_reader final : public body_source {
 public:
  fill_reader(store& st, std::shared_ptr<fill> f, std::uint64_t begin,
              std::optional<std::uint64_t> end, fill::reader_mark mark)
      // A fill's chunks are each read once, as they arrive: not worth a place in the cache.
      : cursor_(st, f->key(), f->generation(), f->chunk_size(), false),
        fill_(std::move(f)),
        mark_(mark ? std::move(mark) : fill_->attach(begin)),
        pos_(begin),
        end_(end),
        length_(end ? std::optional<std::uint64_t>(*end - begin) : std::nullopt) {
    mark_->store(begin, std::memory_order_release);
  }

  ~fill_reader() override {
    mark_.reset();
    if (fill_->relaying()) fill_->advanced();  // a relay waiting on this reader goes on
  }

  std::optional<std::uint64_t> content_length() const override { return length_; }
  void prefer_copies() override { copies_ = true; }

  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        boost::system::error_code& ec) override {
    co_return co_await copy_next(*this, buffer, ec);
  }

  // Bytes already in the store are viewed in place; the fill's tail, still in memory, is copied.
  net::awaitable<net::const_buffer> next(body_scratch& scratch, std::size_t max,
                                         boost::system::error_code& ec) override {
    ec = {};
    for (;;) {
      if (end_ && pos_ >= *end_) {
        moved_to(std::numeric_limits<std::uint64_t>::max());  // done: holds no relay back
        co_return net::const_buffer();
      }
      std::size_t want = max;
      if (end_) want = static_cast<std::size_t>(std::min<std::uint64_t>(want, *end_ - pos_));
      auto seen = fill_->snapshot();
      if (seen.state == fill::phase::failed) {
        ec = boost::system::errc::make_error_code(boost::system::errc::connection_aborted);
        co_return net::const_buffer();
      }
      if (pos_ < seen.durable) {
        auto view = cursor_.view(pos_);
        if (view.empty() && cursor_.unavailable()) view = co_await cursor_.view_waiting(pos_);
        if (view.empty()) {
          if (fill_->snapshot().state != fill::phase::failed) {
            ec = io_error();
            co_return net::const_buffer();  // a chunk the fill wrote is gone: never loop on it
          }
          continue;  // failed meanwhile: reported above
        }
        auto n = std::min<std::size_t>(view.size(), want);
        if (copies_) {
          auto copied = copy_out(view.substr(0, n), scratch, n);
          cursor_.release();
          moved_to(pos_ + copied.size());
          co_return copied;
        }
        moved_to(pos_ + n);
        co_return net::const_buffer(view.data(), n);
      }
      if (pos_ < seen.tail_start) {
        // Neither stored nor kept: only a reader that attached after a relay dropped these bytes
        // (it raced the fill leaving the registry) gets here.
        ec = io_error();
        co_return net::const_buffer();
      }
      if (pos_ < seen.available) {
        auto buffer = scratch.get();
        std::size_t n = fill_->copy_tail(pos_, static_cast<char*>(buffer.data()),
                                         std::min(want, buffer.size()));
        if (n > 0) {
          moved_to(pos_ + n);
          co_return net::const_buffer(buffer.data(), n);
        }
        continue;  // the tail just moved to the store
      }
      if (seen.state == fill::phase::complete) co_return net::const_buffer();  // the end
      // Nothing here yet: wait for the fill to move on.
      co_await fill_->wait_change(seen);
    }
  }

 private:
  void moved_to(std::uint64_t pos) {
    if (pos != std::numeric_limits<std::uint64_t>::max()) pos_ = pos;
    mark_->store(pos, std::memory_order_release);
    if (fill_->relaying()) fill_->advanced();
  }

  chunk_cursor cursor_;
  std::shared_ptr<fill> fill_;
  fill::reader_mark mark_;
  std::uint64_t pos_;
  std::optional<std::uint64_t> end_;
  std::optional<std::uint64_t> length_;
  bool copies_ = false;
};

}  // namespace

std::unique_ptr<body_source> read_committed(store& st, object_key key, const manifest& m,
                                            std::uint64_t begin, std::uint64_t end) {
  assert(begin <= end && end <= m.length);
  return std::make_unique<committed_reader>(st, std::move(key), m, begin, end);
}

std::unique_ptr<body_source> read_fill(store& st, std::shared_ptr<fill> f, std::uint64_t begin,
                                       std::optional<std::uint64_t> end, fill::reader_mark mark) {
  return std::make_unique<fill_reader>(st, std::move(f), begin, end, std::move(mark));
}

}  // namespace recgate::cache
