#pragma once
// Byte helpers shared inside cache/ (the store's keys, the cipher's inputs); hex and digests
// are util/'s.
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

}  // namespace recgate::cache
