#include "cache/body_source.hpp"

#include <array>
#include <cstring>
#include <utility>

namespace recgate {

namespace {

struct spare {
  std::size_t size = 0;
  std::unique_ptr<char[]> bytes;
};

// This thread's spare buffers; sessions live on one thread, so a response's buffer usually
// comes back to the thread that took it.
thread_local std::array<spare, body_scratch::spares_per_thread> spares;

}  // namespace

std::unique_ptr<char[]> body_scratch::take_spare(std::size_t size) {
  for (auto& s : spares) {
    if (s.bytes && s.size == size) return std::move(s.bytes);
  }
  return std::make_unique_for_overwrite<char[]>(size);
}

body_scratch::~body_scratch() {
  if (!owned_ || size_ > max_spare_bytes) return;
  for (auto& s : spares) {
    if (!s.bytes) {
      s.size = size_;
      s.bytes = std::move(owned_);
      return;
    }
  }
  // Full: one of another size (upstream.buffer_bytes changed by a reload) makes room.
  for (auto& s : spares) {
    if (s.size != size_) {
      s.size = size_;
      s.bytes = std::move(owned_);
      return;
    }
  }
}

namespace {

class string_source final : public body_source {
 public:
  explicit string_source(std::string bytes) : bytes_(std::move(bytes)) {}
  std::optional<std::uint64_t> content_length() const override { return bytes_.size(); }
  bool immediate() const override { return true; }
  net::awaitable<std::size_t> read_some(net::mutable_buffer buffer,
                                        boost::system::error_code&) override {
    std::size_t n = std::min(buffer.size(), bytes_.size() - offset_);
    std::memcpy(buffer.data(), bytes_.data() + offset_, n);
    offset_ += n;
    co_return n;
  }

 private:
  std::string bytes_;
  std::size_t offset_ = 0;
};

}  // namespace

std::unique_ptr<body_source> string_body(std::string bytes) {
  return std::make_unique<string_source>(std::move(bytes));
}

}  // namespace recgate
