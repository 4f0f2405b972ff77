#include "proxy/lifecycle/peaks_origin.hpp"

#include <atomic>
#include <charconv>
#include <optional>
#include <vector>

#include "cache/cache.hpp"
#include "cache/readers.hpp"
#include "proxy/lifecycle/waveform_peaks.hpp"
#include "proxy/policy/error_body.hpp"
#include "proxy/upstream/upstream_origin.hpp"
#include "util/net/net.hpp"

namespace recgate {
namespace {

cache::origin_response failed(unsigned status, std::string_view message) {
  cache::origin_response out;
  out.head.status = status;
  out.head.error_body = error_body(static_cast<int>(status), message);
  out.head.error_content_type = "application/json";
  out.head.detail = std::string(message);
  out.head.local = true;
  return out;
}

// Computations running now, across all threads: each holds up to max_peak_pairs bytes of pairs
// and their JSON (~10 MB at most).
std::atomic<unsigned> computing{0};

// A slot among max_peak_computations, held for the computation's life.
class computation_slot {
 public:
  computation_slot() : taken_(computing.fetch_add(1) < max_peak_computations) {
    if (!taken_) computing.fetch_sub(1);
  }
  ~computation_slot() {
    if (taken_) computing.fetch_sub(1);
  }
  computation_slot(const computation_slot&) = delete;
  computation_slot& operator=(const computation_slot&) = delete;
  bool taken() const { return taken_; }

 private:
  bool taken_;
};

// Peaks from a WAV body, read to its end.
net::awaitable<cache::origin_response> compute(body_source& wav, std::uint32_t samples_per_pixel) {
  computation_slot slot;
  if (!slot.taken()) {
    co_return failed(503, "Too many waveforms are being computed right now; retry in a moment");
  }
  waveform_peaks peaks(samples_per_pixel, max_peak_pairs);
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    boost::system::error_code ec;
    std::size_t n = co_await wav.read_some(net::buffer(buffer), ec);
    if (ec) co_return failed(502, "The recording's audio broke off while its peaks were computed");
    if (n == 0) break;
    if (!peaks.feed(std::string_view(buffer.data(), n))) break;
  }
  auto json = peaks.finish();
  if (!json) {
    if (peaks.failed() == waveform_peaks::failure::too_many_pairs) {
      co_return failed(400,
                       "The recording is too long for this samples_per_pixel; ask for a "
                       "larger one");
    }
    co_return failed(422, "No peaks can be computed from this recording: " + peaks.why());
  }
  cache::origin_response out;
  out.head.status = 200;
  out.head.length = json->size();
  out.head.content_type = "application/json";
  out.body = string_body(std::move(*json));
  co_return out;
}

}  // namespace

std::string peaks_format(std::uint32_t samples_per_pixel) {
  return "peaks-" + std::to_string(samples_per_pixel);
}

cache::origin_fetch peaks_origin(cache::cache* recordings,
                                 std::shared_ptr<upstream_project> project,
                                 std::string request_id) {
  return [recordings, project = std::move(project), request_id = std::move(request_id)](
             const cache::object_key& key) -> net::awaitable<cache::origin_response> {
    std::uint32_t samples_per_pixel = 0;
    const std::string_view digits = std::string_view(key.format).substr(6);  // after "peaks-"
    std::from_chars(digits.data(), digits.data() + digits.size(), samples_per_pixel);
    const cache::object_key wav{key.account_sid, key.sid, "wav"};
    // The WAV through the cache: a hit reads it from the store, a miss fills it on the way.
    // Without a cache, or while its store takes no writes, straight from the upstream.
    std::optional<cache::cache::lookup> looked_up;
    if (recordings) looked_up = recordings->get(wav, upstream_origin(project, request_id));
    if (!looked_up || looked_up->from == cache::cache::source::bypass) {
      auto response =
          co_await fetch_from_upstream(project->client(), audio_request(wav), request_id);
      if (response.head.status != 200) co_return response;
      co_return co_await compute(*response.body, samples_per_pixel);
    }
    auto& found = *looked_up;
    if (found.deleted) co_return failed(404, "The recording was deleted");
    if (found.remembered) {
      cache::origin_response out;
      out.head = *found.remembered;
      co_return out;
    }
    if (found.committed) {
      // found (and its lease on the object) lives until the peaks are computed.
      auto body = cache::read_committed(recordings->storage(), wav, *found.committed, 0,
                                        found.committed->length);
      co_return co_await compute(*body, samples_per_pixel);
    }
    auto head = co_await found.filling->wait_head();
    if (head.status != 200) {
      found.mark.reset();
      cache::origin_response out;
      out.head = head;
      co_return out;
    }
    auto body = cache::read_fill(recordings->storage(), found.filling, 0, head.length,
                                 std::move(found.mark));
    co_return co_await compute(*body, samples_per_pixel);
  };
}

}  // namespace recgate
