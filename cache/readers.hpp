#pragma once
// Body sources over cached bytes: a committed object in the store, or a fill in progress.
// Each reads [begin, end) and keeps one chunk in memory, so memory per reader is one chunk
// (a committed reader's next_views holds up to four, for one gather write).

#include <memory>

#include "cache/body_source.hpp"
#include "cache/fill.hpp"
#include "cache/store.hpp"

namespace recgate::cache {

// Prereq: begin <= end <= m.length; the store outlives the reader.
std::unique_ptr<body_source> read_committed(store& st, object_key key, const manifest& m,
                                            std::uint64_t begin, std::uint64_t end);

// Reads the fill's bytes [begin, end), waiting for them as they arrive; end nullopt: to the end
// of the body, whatever its length turns out to be. A failed fill ends the read with an error.
// `mark`: the reader's place taken when the request joined the fill (cache::lookup::mark); a
// new one is attached when none is given.
std::unique_ptr<body_source> read_fill(store& st, std::shared_ptr<fill> f, std::uint64_t begin,
                                       std::optional<std::uint64_t> end,
                                       fill::reader_mark mark = nullptr);

}  // namespace recgate::cache
