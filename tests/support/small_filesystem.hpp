#pragma once
// A small filesystem of its own for tests of a full disk: a tmpfs of a given size mounted on a new
// temporary folder, with a filler file that takes its free space down to what a test wants.
// Mounting needs root (CAP_SYS_ADMIN); elsewhere available() is false and why() says so, and a
// test reports that it could not run rather than passing. POSIX/Linux only.

#include <cstdint>
#include <filesystem>
#include <string>

namespace test_support {

class small_filesystem {
 public:
  explicit small_filesystem(std::uint64_t bytes);
  ~small_filesystem();  // unmounts (lazily, should a process still hold a file) and removes it
  small_filesystem(const small_filesystem&) = delete;
  small_filesystem& operator=(const small_filesystem&) = delete;

  bool available() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::filesystem::path& path() const { return path_; }

  // Bytes free on it now (what a non-root writer may use).
  std::uint64_t free_bytes() const;
  // Grows the filler file until at most `keep` bytes are free (never below zero).
  void fill_leaving(std::uint64_t keep);
  // Removes the filler: its space is free again.
  void release_filler();

 private:
  std::filesystem::path path_;
  std::filesystem::path filler_;
  bool mounted_ = false;
  std::string why_;
};

}  // namespace test_support
