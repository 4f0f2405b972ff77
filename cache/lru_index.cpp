#include "cache/lru_index.hpp"

namespace recgate::cache {

void lru_index::reorder(const std::string& key, item& it, std::int64_t when) {
  by_age_.erase({it.last_access, it.order, key});
  it.last_access = when;
  it.order = next_order_++;
  by_age_.insert({it.last_access, it.order, key});
}

void lru_index::put(const std::string& key, std::uint64_t bytes, std::int64_t last_access) {
  std::lock_guard lock(mutex_);
  auto [pos, inserted] = items_.try_emplace(key);
  if (!inserted) total_ -= pos->second.bytes;
  pos->second.bytes = bytes;
  total_ += bytes;
  if (inserted) {
    pos->second.last_access = last_access;
    pos->second.order = next_order_++;
    by_age_.insert({last_access, pos->second.order, key});
  } else {
    reorder(key, pos->second, last_access);
  }
}

void lru_index::touch(const std::string& key, std::int64_t now) {
  std::lock_guard lock(mutex_);
  auto pos = items_.find(key);
  if (pos == items_.end()) return;
  reorder(key, pos->second, now);
  dirty_[key] = now;
}

void lru_index::erase(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto pos = items_.find(key);
  if (pos == items_.end()) return;
  by_age_.erase({pos->second.last_access, pos->second.order, key});
  total_ -= pos->second.bytes;
  items_.erase(pos);
  dirty_.erase(key);
}

std::vector<std::string> lru_index::oldest_beyond(std::uint64_t max_bytes) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  std::uint64_t total = total_;
  for (auto it = by_age_.begin(); total > max_bytes && it != by_age_.end(); ++it) {
    const auto& key = std::get<2>(*it);
    total -= items_.at(key).bytes;
    out.push_back(key);
  }
  return out;
}

void lru_index::clear() {
  std::lock_guard lock(mutex_);
  items_.clear();
  by_age_.clear();
  dirty_.clear();
  total_ = 0;
}

std::vector<std::pair<std::string, std::int64_t>> lru_index::take_dirty() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, std::int64_t>> out(dirty_.begin(), dirty_.end());
  dirty_.clear();
  return out;
}

std::uint64_t lru_index::total_bytes() const {
  std::lock_guard lock(mutex_);
  return total_;
}

std::uint64_t lru_index::objects() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

}  // namespace recgate::cache
