#include "cache/hot_chunks.hpp"

#include <utility>

namespace recgate::cache {

std::optional<hot_chunks::held> hot_chunks::find(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->chunk;
}

void hot_chunks::insert(std::string_view key, held chunk) {
  if (chunk.bytes.size() > max_bytes_) return;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) drop(it->second);
  order_.push_front(entry{std::string(key), std::move(chunk)});
  index_.emplace(order_.front().key, order_.begin());
  bytes_ += order_.front().chunk.bytes.size();
  while (bytes_ > max_bytes_) drop(std::prev(order_.end()));
}

void hot_chunks::forget(std::string_view prefix) {
  std::lock_guard lock(mutex_);
  for (auto it = order_.begin(); it != order_.end();) {
    auto next = std::next(it);
    if (std::string_view(it->key).starts_with(prefix)) drop(it);
    it = next;
  }
}

void hot_chunks::clear() {
  std::lock_guard lock(mutex_);
  index_.clear();
  order_.clear();
  bytes_ = 0;
}

std::uint64_t hot_chunks::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::uint64_t hot_chunks::count() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

void hot_chunks::drop(list::iterator it) {
  bytes_ -= it->chunk.bytes.size();
  index_.erase(std::string_view(it->key));
  order_.erase(it);
}

}  // namespace recgate::cache
