#pragma once
// Revoked signed URLs: per recording, the time before which every signed URL issued for it is
// void. Kept in memory and, when access.revocations_file is set, appended to that file (one
// "account/sid unix_time" line per revocation) and read back at start. Thread-safe.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "util/result.hpp"

namespace recgate {

class revocation_list {
 public:
  // Reads the file's revocations; a missing file is an empty list.
  result<void> load(const std::string& path);

  // Voids every signed URL for the recording issued at or before `when`. An error when it could
  // not be written to the file (the revocation then still holds in memory).
  result<void> revoke(const std::string& account_sid, const std::string& sid, std::int64_t when);

  // True when a URL for this recording issued at `issued` has been revoked.
  bool revoked(const std::string& account_sid, const std::string& sid, std::int64_t issued) const;

 private:
  mutable std::mutex mutex_;
  std::string path_;
  std::unordered_map<std::string, std::int64_t> revoked_at_;
};

}  // namespace recgate
