#include "cache/readers.hpp"

#include <cstring>
#include <limits>

namespace recgate::cache {
namespace {

// Copies bytes out of stored chunks, keeping the last chunk read.
class chunk_cursor {
 public:
  chunk_cursor(store& st, object_key key, std::uint64_t generation, std::uint32_t chunk_size)
      : store_(st), key_(std::move(key)), generation_(generation), chunk_size_(chunk_size) {}

  // Bytes copied from the chunk holding offset; 0 when that chunk is missing.
  std::size_t read(std::uint64_t offset, char* out, std::size_t size) {
    auto index = static_cast<std::uint32_t>(offset / chunk_size_);
    if (index != cached_index_) {
      auto chunk = store_.read_chunk(key_, generation_, index);
      if (!chunk) return 0;
      cached_ = std::move(*chunk);
      cached_index_ = index;
    }
    auto from = static_cast<std::size_t>(offset % chunk_size_);
    if (from >= cached_.size()) return 0;
    std::size_t n = std::min(size, cached_.size() - from);
    std::memcpy(out, cached_.data() + from, n);
    return n;
  }

 private:
  store& store_;
  object_key key_;
  std::uint64_t generation_;
  std::uint32_t chunk_size_;
  std::uint32_t cached_index_ = std::numeric_limits<std::uint32_t>::max();
  std::string cached_;
};

class committed_reader final : public body_source {
 public:
  committed_reader(store& st, object_key key, const manifest& m, std::uint64_t begin,
                   std::uint64_t end)
      : cursor_(st, std::move(key), m.generation, m.chunk_size), pos_(begin), end_(end) {}

  std::optional<std::uint64_t> content_length() const override { return end_ - pos_; }

  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        boost::system::error_code& ec) override {
    ec = {};
    if (pos_ >= end_) co_return 0;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end_ - pos_));
    std::size_t n = cursor_.read(pos_, static_cast<char*>(buffer.data()), want);
    if (n == 0) {
      // The manifest promised this chunk: the object is damaged (or was purged meanwhile).
      ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
      co_return 0;
    }
    pos_ += n;
    co_return n;
  }

 private:
  chunk_cursor cursor_;
  std::uint64_t pos_;
  std::uint64_t end_;
};

class fill_reader final : public body_source {
 public:
  fill_reader(store& st, std::shared_ptr<fill> f, std::uint64_t begin,
              std::optional<std::uint64_t> end)
      : cursor_(st, f->key(), f->generation(), f->chunk_size()),
        fill_(std::move(f)),
        pos_(begin),
        end_(end),
        length_(end ? std::optional<std::uint64_t>(*end - begin) : std::nullopt) {}

  std::optional<std::uint64_t> content_length() const override { return length_; }

  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        boost::system::error_code& ec) override {
    ec = {};
    for (;;) {
      if (end_ && pos_ >= *end_) co_return 0;
      std::size_t want = buffer.size();
      if (end_) want = static_cast<std::size_t>(std::min<std::uint64_t>(want, *end_ - pos_));
      auto* out = static_cast<char*>(buffer.data());
      auto seen = fill_->snapshot();
      if (seen.state == fill::phase::failed) {
        ec = boost::system::errc::make_error_code(boost::system::errc::connection_aborted);
        co_return 0;
      }
      std::size_t n = 0;
      if (pos_ < seen.durable) {
        n = cursor_.read(pos_, out, want);
        if (n == 0 && fill_->snapshot().state != fill::phase::failed) {
          ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
          co_return 0;  // a chunk the fill wrote is gone: never loop on it
        }
      } else if (pos_ < seen.available) n = fill_->copy_tail(pos_, out, want);
      else if (seen.state == fill::phase::complete) co_return 0;  // the end of the body
      if (n > 0) {
        pos_ += n;
        co_return n;
      }
      // Nothing here yet (or the tail just moved to the store): wait for the fill to move on.
      if (pos_ >= seen.available) co_await fill_->wait_change(seen);
    }
  }

 private:
  chunk_cursor cursor_;
  std::shared_ptr<fill> fill_;
  std::uint64_t pos_;
  std::optional<std::uint64_t> end_;
  std::optional<std::uint64_t> length_;
};

}  // namespace

std::unique_ptr<body_source> read_committed(store& st, object_key key, const manifest& m,
                                            std::uint64_t begin, std::uint64_t end) {
  return std::make_unique<committed_reader>(st, std::move(key), m, begin, end);
}

std::unique_ptr<body_source> read_fill(store& st, std::shared_ptr<fill> f, std::uint64_t begin,
                                       std::optional<std::uint64_t> end) {
  return std::make_unique<fill_reader>(st, std::move(f), begin, end);
}

}  // namespace recgate::cache
