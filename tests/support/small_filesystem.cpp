#include "small_filesystem.hpp"

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace test_support {

small_filesystem::small_filesystem(std::uint64_t bytes) {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("recgate-smallfs-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
  filler_ = path_ / "filler";
  auto options = "size=" + std::to_string(bytes) + ",mode=0755";
  if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
    mounted_ = true;
  } else {
    why_ = std::string("cannot mount a tmpfs (needs root): ") + std::strerror(errno);
  }
}

small_filesystem::~small_filesystem() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint64_t small_filesystem::free_bytes() const {
  struct statvfs fs {};
  if (::statvfs(path_.c_str(), &fs) != 0) return 0;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

void small_filesystem::fill_leaving(std::uint64_t keep) {
  int fd = ::open(filler_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  std::vector<char> block(1 << 16, 'f');
  for (auto free = free_bytes(); free > keep; free = free_bytes()) {
    auto n = std::min<std::uint64_t>(block.size(), free - keep);
    // tmpfs allocates whole pages: a last partial page rounds the free space down.
    if (::write(fd, block.data(), static_cast<std::size_t>(std::max<std::uint64_t>(n, 1))) <= 0)
      break;
  }
  ::fsync(fd);
  ::close(fd);
}

void small_filesystem::release_filler() {
  std::error_code ec;
  std::filesystem::remove(filler_, ec);
}

}  // namespace test_support
