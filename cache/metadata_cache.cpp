#include "cache/metadata_cache.hpp"

namespace recgate::cache {
namespace {

std::string key_of(const std::string& account_sid, const std::string& sid) {
  return account_sid + "/" + sid;
}

}  // namespace

std::optional<metadata_cache::entry> metadata_cache::find(const std::string& account_sid,
                                                          const std::string& sid,
                                                          clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = items_.find(key_of(account_sid, sid));
  if (it == items_.end() || it->second.until <= now) return std::nullopt;
  return it->second.value;
}

std::optional<metadata_cache::entry> metadata_cache::find_stale(const std::string& account_sid,
                                                                const std::string& sid,
                                                                clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = items_.find(key_of(account_sid, sid));
  if (it == items_.end() || it->second.until + stale_for_ <= now) return std::nullopt;
  return it->second.value;
}

void metadata_cache::put(const std::string& account_sid, const std::string& sid, entry e,
                         clock::time_point now) {
  std::lock_guard lock(mutex_);
  // Entries past any use first, then the soonest to expire, until there is room.
  while (!by_expiry_.empty() &&
         (by_expiry_.begin()->first + stale_for_ <= now || items_.size() >= max_entries_)) {
    items_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  auto key = key_of(account_sid, sid);
  if (auto old = items_.find(key); old != items_.end()) {
    auto range = by_expiry_.equal_range(old->second.until);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == key) {
        by_expiry_.erase(it);
        break;
      }
    }
  }
  auto until = now + ttl_;
  items_[key] = item{std::move(e), until};
  by_expiry_.emplace(until, key);
}

void metadata_cache::erase(const std::string& account_sid, const std::string& sid) {
  std::lock_guard lock(mutex_);
  auto key = key_of(account_sid, sid);
  auto old = items_.find(key);
  if (old == items_.end()) return;
  auto range = by_expiry_.equal_range(old->second.until);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second == key) {
      by_expiry_.erase(it);
      break;
    }
  }
  items_.erase(old);
}

std::size_t metadata_cache::size() const {
  std::lock_guard lock(mutex_);
  return items_.size();
}

}  // namespace recgate::cache
