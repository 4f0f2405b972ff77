#include "proxy/access/revocations.hpp"

#include <fstream>
#include <sstream>

namespace recgate {

result<void> revocation_list::load(const std::string& path) {
  std::lock_guard lock(mutex_);
  path_ = path;
  std::ifstream in(path);
  if (!in) return {};  // nothing revoked yet
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string key;
    std::int64_t when = 0;
    if (!(fields >> key >> when)) {
      return fail(path + ":" + std::to_string(number) + ": not \"account/sid unix_time\"");
    }
    auto& at = revoked_at_[key];
    at = std::max(at, when);
  }
  return {};
}

result<void> revocation_list::revoke(const std::string& account_sid, const std::string& sid,
                                     std::int64_t when) {
  std::lock_guard lock(mutex_);
  auto key = account_sid + "/" + sid;
  auto& at = revoked_at_[key];
  at = std::max(at, when);
  if (path_.empty()) return {};
  std::ofstream out(path_, std::ios::app);
  out << key << " " << when << "\n";
  out.flush();
  if (!out) return fail("cannot append to " + path_);
  return {};
}

bool revocation_list::revoked(const std::string& account_sid, const std::string& sid,
                              std::int64_t issued) const {
  std::lock_guard lock(mutex_);
  auto it = revoked_at_.find(account_sid + "/" + sid);
  return it != revoked_at_.end() && issued <= it->second;
}

}  // namespace recgate
