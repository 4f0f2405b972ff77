#pragma once
// Byte helpers shared inside cache/ (the store's keys, the cipher's inputs, digests as text).
// Internal: not part of the cache's interface.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace recgate::cache {

// Appends the low `bytes` bytes of v, most significant first.
inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The big-endian number in `in` (at most 8 bytes).
inline std::uint64_t get_be(std::string_view in) {
  std::uint64_t v = 0;
  for (unsigned char c : in) v = (v << 8) | c;
  return v;
}

// Lower-case hex of `size` bytes.
inline std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xf];
  }
  return out;
}

}  // namespace recgate::cache
