#pragma once
// A folder that lives as long as the object: created under the system temp folder with a random
// suffix (std::random_device), removed with everything in it when the object goes away.
//
//   test_support::temp_dir tmp("recgate-store-");
//   open_store(tmp.path / "db");

#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>

namespace test_support {

struct temp_dir {
  explicit temp_dir(std::string_view prefix) {
    std::random_device rd;
    const auto suffix = std::to_string(rd()) + "-" + std::to_string(rd());
    path = std::filesystem::temp_directory_path() / (std::string(prefix) + suffix);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;  // a destructor must not throw; a leftover folder is harmless
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::filesystem::path path;
};

}  // namespace test_support
