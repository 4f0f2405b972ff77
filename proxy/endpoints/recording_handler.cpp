#include "proxy/endpoints/recording_handler.hpp"

#include "cache/readers.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/lifecycle/peaks_origin.hpp"
#include "proxy/lifecycle/revalidator.hpp"
#include "proxy/telemetry/logging.hpp"
#include "proxy/upstream/upstream_origin.hpp"

namespace recgate {
namespace {

bool is_json_type(std::string_view content_type) {
  auto media = content_type.substr(0, content_type.find(';'));
  while (media.ends_with(' ')) media.remove_suffix(1);
  return beast::iequals(media, "application/json") ||
         beast::iequals(media, "application/problem+json");
}

const char* cache_label(cache::cache::source s) {
  switch (s) {
    case cache::cache::source::hit:
      return "HIT";
    case cache::cache::source::miss:
      return "MISS";
    case cache::cache::source::stream:
      return "STREAM";
    case cache::cache::source::negative:
      return "NEGATIVE";
    case cache::cache::source::bypass:
      return "BYPASS";
  }
  return "-";
}

// Metadata bodies are about a kilobyte; one this large is not metadata.
constexpr std::size_t max_metadata_bytes = 1 << 20;

// A range starting this far beyond what a fill has received is fetched on its own.
constexpr std::uint64_t far_ahead_bytes = 1 << 20;

// Reads a small body whole into `out`; on failure, what went wrong (for a 502).
net::awaitable<const char*> read_whole(body_source& body, std::size_t limit, std::string& out) {
  char buffer[8192];
  for (;;) {
    beast::error_code ec;
    std::size_t n = co_await body.read_some(net::buffer(buffer), ec);
    if (ec) co_return "The upstream's metadata broke off";
    if (n == 0) co_return nullptr;
    out.append(buffer, n);
    if (out.size() > limit) co_return "The upstream's metadata is implausibly large";
  }
}

// One request's answer. Each respond_* writes a whole response and records it in the caller's
// outcome (filled in place: an outcome of five strings moved up through every coroutine frame
// was a measurable part of a hit's cost).
class responder {
 public:
  responder(gateway& gw, const live_settings& live, client_stream& client,
            const recording_request& request, const conditional_headers& conditions,
            const std::string& request_id, bool keep_alive, token_bucket* budget,
            const header_list& audio_extra, endpoint_outcome& out)
      : budget_(budget),
        audio_extra_(audio_extra),
        gw_(gw),
        live_(live),
        client_(client),
        request_(request),
        conditions_(conditions),
        request_id_(request_id),
        keep_alive_(keep_alive),
        out_(out) {}

  net::awaitable<void> run() {
    // The project serving the AccountSid: its client, its credentials. None: 404 here, nothing
    // sent upstream (no project's credentials go out for another's recordings).
    project_ = gw_.projects.load()->find(request_.account_sid);
    if (!project_) {
      co_return co_await respond_error(404, "No project of this gateway serves this AccountSid");
    }
    out_.project = project_->id();
    if (request_.remove) co_return co_await respond_delete();
    // A recording deleted through the gateway: no metadata request goes upstream for it again
    // (audio: the cache's lookup answers the same).
    if (!request_.is_audio() && gw_.recordings &&
        gw_.recordings->deleted(request_.account_sid, request_.sid)) {
      out_.cache = "NEGATIVE";
      co_return co_await respond_deleted();
    }
    if (request_.is_audio() && gw_.recordings) co_return co_await respond_cached();
    if (request_.format == recording_format::peaks) co_return co_await respond_peaks_uncached();
    if (!request_.is_audio() && gw_.metadata && !request_.head) {
      co_return co_await respond_metadata_cached();
    }
    co_return co_await respond_passthrough();
  }

 private:
  // Straight from the upstream: metadata always, audio when there is no cache (or a HEAD that
  // the cache cannot answer). For audio, the client's Range and validators go upstream (as
  // forwardable_conditions checked and rebuilt them) and the upstream's 206, 304 or 416 comes
  // back, so a player can seek without a cache too.
  net::awaitable<void> respond_passthrough() {
    const bool metadata = request_.format == recording_format::json;
    std::optional<recording_request> conditional;
    if (!metadata && !request_.upstream_range) {
      auto forwarded = forwardable_conditions(conditions_);
      if (!forwarded.empty()) {
        conditional.emplace(request_);
        conditional->forwarded = std::move(forwarded);
      }
    }
    const recording_request& asked = conditional ? *conditional : request_;
    auto response = co_await fetch_from_upstream(project_->client(), asked, request_id_);
    const auto& head = response.head;
    out_.upstream_status = head.status;
    // A 304 answers only the validators the client sent (If-Range alone never gets one).
    if (conditional && head.status == 304 &&
        (!conditional->forwarded.if_none_match.empty() ||
         !conditional->forwarded.if_modified_since.empty())) {
      co_return co_await respond_not_modified(head);
    }
    if (conditional && head.status == 416 && !conditional->forwarded.range.empty()) {
      header_list extra;
      if (head.content_range.starts_with("bytes */")) {
        extra.emplace_back("Content-Range", head.content_range);
      }
      co_return co_await respond_error(416, "The requested range is not satisfiable", extra);
    }
    const bool partial = head.status == 206 && response.body != nullptr;
    if (head.status != 200 && !partial) co_return co_await respond_origin_error(head);
    if (partial && (!head.length || !content_range_matches(head.content_range, *head.length))) {
      co_return co_await respond_error(
          502, "The upstream answered a range with a Content-Range that does not match its body");
    }
    if (metadata && !is_json_type(head.content_type)) {
      co_return co_await respond_error(502, "The upstream answered metadata that is not JSON");
    }
    // Only these upstream headers reach the client: hop-by-hop headers, Set-Cookie, Server and
    // anything else the upstream adds stay behind.
    header_list headers;
    headers.emplace_back("Content-Type", head.content_type.empty()
                                             ? std::string(content_type(request_.format))
                                             : head.content_type);
    if (!metadata && (head.accept_ranges == "bytes" || head.accept_ranges == "none")) {
      headers.emplace_back("Accept-Ranges", head.accept_ranges);
    }
    if (partial) headers.emplace_back("Content-Range", head.content_range);
    if (!head.etag.empty()) headers.emplace_back("ETag", head.etag);
    if (!head.last_modified.empty()) headers.emplace_back("Last-Modified", head.last_modified);
    if (out_.cache != "-") headers.emplace_back("X-Cache", out_.cache);
    if (!metadata) headers.insert(headers.end(), audio_extra_.begin(), audio_extra_.end());
    co_return co_await respond_body(partial ? 206 : 200, headers, *response.body);
  }

  // DELETE: SignalWire's Delete a Recording, with the project's credentials (sent as a .json
  // request: signed, never redirected). On its 204, or a 404 (already gone there), every format
  // and the metadata are purged here and a tombstone kept, so nothing asks the upstream for it
  // again; the client gets 204 (or the 404). Without a cache there is nothing to purge.
  net::awaitable<void> respond_delete() {
    recording_request upstream_request = request_;
    upstream_request.format = recording_format::json;
    auto response = co_await fetch_from_upstream(project_->client(), upstream_request, request_id_);
    const auto& head = response.head;
    out_.upstream_status = head.status;
    if (head.status != 204 && head.status != 200 && head.status != 404) {
      co_return co_await respond_origin_error(head);
    }
    if (gw_.metadata) gw_.metadata->erase(request_.account_sid, request_.sid);
    if (gw_.recordings) {
      auto removed = gw_.recordings->remove_deleted(request_.account_sid, request_.sid);
      if (!removed.ok()) {
        logging::error(
            "request_id=" + request_id_ + " recording " + request_.sid +
            " was deleted upstream, but the cache could not record it: " + removed.error());
        co_return co_await respond_error(
            503,
            "The recording was deleted upstream, but the gateway could not record the "
            "deletion; send the DELETE again");
      }
    }
    if (head.status == 404) {
      co_return co_await respond_error(404, "The recording does not exist upstream");
    }
    auto w = co_await write_empty(reply_to(false), 204, {});
    co_return finish(204, w);
  }

  // A recording with a tombstone: deleted through the gateway or reported gone by a callback.
  net::awaitable<void> respond_deleted() {
    co_return co_await respond_error(404, "The recording was deleted");
  }

  // The upstream's 304 to validators the client sent: its validators, no body.
  net::awaitable<void> respond_not_modified(const cache::origin_head& head) {
    header_list headers;
    if (!head.etag.empty()) headers.emplace_back("ETag", head.etag);
    if (!head.last_modified.empty()) headers.emplace_back("Last-Modified", head.last_modified);
    if (out_.cache != "-") headers.emplace_back("X-Cache", out_.cache);
    headers.insert(headers.end(), audio_extra_.begin(), audio_extra_.end());
    auto w = co_await write_empty(reply_to(request_.head), 304, headers);
    co_return finish(304, w);
  }

  // Metadata kept for metadata_ttl, per account; a miss reads the (small) body whole to keep it.
  // While the upstream fails, metadata up to stale_if_error past its TTL is served instead.
  net::awaitable<void> respond_metadata_cached() {
    auto now = cache::metadata_cache::clock::now();
    auto found = gw_.metadata->find(request_.account_sid, request_.sid, now);
    out_.cache = found ? "HIT" : "MISS";
    if (!found) {
      auto response = co_await fetch_from_upstream(project_->client(), request_, request_id_);
      const auto& head = response.head;
      out_.upstream_status = head.status;
      if (head.status == 0 || head.status >= 500 || head.status == 401 || head.status == 403) {
        found = gw_.metadata->find_stale(request_.account_sid, request_.sid, now);
        if (found) out_.cache = "STALE";
      }
      if (!found && head.status != 200) co_return co_await respond_origin_error(head);
      if (!found && !is_json_type(head.content_type)) {
        co_return co_await respond_error(502, "The upstream answered metadata that is not JSON");
      }
      if (!found) {
        cache::metadata_cache::entry e{{}, head.content_type};
        if (auto problem = co_await read_whole(*response.body, max_metadata_bytes, e.body)) {
          co_return co_await respond_error(502, problem);
        }
        gw_.metadata->put(request_.account_sid, request_.sid, e, now);
        found = std::move(e);
      }
    }
    header_list extra;
    extra.emplace_back("Content-Type", found->content_type);
    extra.emplace_back("X-Cache", out_.cache);
    auto w = co_await write_json(reply_to(false), 200, std::move(found->body), extra);
    co_return finish(200, w);
  }

  // Audio and peaks through the cache. One coroutine from the lookup to the answer: a hit costs
  // no frame beyond respond_committed's.
  net::awaitable<void> respond_cached() {
    const bool peaks = request_.format == recording_format::peaks;
    cache::object_key key{
        request_.account_sid, request_.sid,
        peaks ? peaks_format(request_.samples_per_pixel) : std::string(extension(request_.format))};
    cache::cache::lookup found;
    if (request_.head && !peaks) {
      // HEAD never starts a fill: a whole recording is not fetched to answer with headers.
      // (Peaks are small: a HEAD computes them like a GET.)
      auto peeked = gw_.recordings->peek(key);
      if (!peeked) {
        out_.cache = "MISS";
        co_return co_await respond_passthrough();
      }
      found = std::move(*peeked);
    } else {
      found =
          gw_.recordings->get(key, peaks ? peaks_origin(gw_.recordings.get(), project_, request_id_)
                                         : upstream_origin(project_, request_id_));
    }
    out_.cache = cache_label(found.from);
    // The store takes no writes now: straight from the upstream, as without a cache.
    // (Two statements: g++ 12 mishandles a co_await of a conditional expression's awaitable.)
    if (found.from == cache::cache::source::bypass && peaks) {
      co_return co_await respond_peaks_uncached();
    }
    if (found.from == cache::cache::source::bypass) co_return co_await respond_passthrough();
    if (found.deleted) co_return co_await respond_deleted();
    if (found.remembered) co_return co_await respond_origin_error(*found.remembered);
    // Last confirmed upstream longer ago than cache.revalidate_after: asked again (beside this
    // hit, or before it with revalidate = "before-serving"); gone there, it is purged now.
    // The co_await stays out of the condition: inside a && chain g++ 12 built a frame that
    // crashed on its first resume.
    if (found.committed && gw_.revalidation && gw_.revalidation->due(key, *found.committed)) {
      const bool exists = co_await gw_.revalidation->revalidate(key, request_id_);
      if (!exists) {
        out_.cache = "NEGATIVE";
        co_return co_await respond_deleted();
      }
    }
    if (found.committed) co_return co_await respond_committed(key, *found.committed);
    co_return co_await respond_filling(found);
  }

  // Waveform peaks without a cache, or while the store takes no writes: computed from the
  // upstream's WAV for this request alone.
  net::awaitable<void> respond_peaks_uncached() {
    cache::object_key key{request_.account_sid, request_.sid,
                          peaks_format(request_.samples_per_pixel)};
    auto origin = peaks_origin(nullptr, project_, request_id_);
    auto response = co_await origin(key);
    if (response.head.status != 200) co_return co_await respond_origin_error(response.head);
    header_list headers;
    headers.emplace_back("Content-Type", response.head.content_type);
    if (out_.cache != "-") headers.emplace_back("X-Cache", out_.cache);
    headers.insert(headers.end(), audio_extra_.begin(), audio_extra_.end());
    co_return co_await respond_body(200, headers, *response.body);
  }

  // A whole object in the store: 304, 416, 206 or 200 by the request's conditions.
  net::awaitable<void> respond_committed(const cache::object_key& key, const cache::manifest& m) {
    representation rep{m.length, m.etag(), m.last_modified};
    auto plan = plan_response(rep, conditions_);
    auto headers = audio_headers(m.content_type, rep);
    if (plan.status == 304) {
      auto w = co_await write_empty(reply_to(request_.head), 304, headers);
      co_return finish(304, w);
    }
    if (plan.status == 416) co_return co_await respond_unsatisfiable(plan);
    auto body = cache::read_committed(gw_.recordings->storage(), key, m, plan.begin,
                                      plan.end.value_or(m.length));
    if (plan.status == 206) headers.emplace_back("Content-Range", plan.content_range);
    co_return co_await respond_body(plan.status, headers, *body, true);
  }

  // A fill in progress (this request's miss, or another's it joins): streamed as it arrives,
  // except a Range far ahead of it, which is asked of the upstream directly.
  net::awaitable<void> respond_filling(cache::cache::lookup& found) {
    // Audio only: peaks have no upstream to ask a range of.
    const bool ranges_upstream = request_.format != recording_format::peaks;
    if (auto range = plain_range(conditions_, recording_request::open_range_end);
        ranges_upstream && range &&
        range->first >= found.filling->snapshot().available + far_ahead_bytes) {
      // A seek far into a recording whose fill has just begun: ask the upstream for that range at
      // once, beside the fill, rather than wait for the fill's head and then for its bytes.
      const bool answered = co_await respond_range_early(*range, found.mark);
      if (answered) co_return;
    }
    auto head = co_await found.filling->wait_head();
    if (found.from == cache::cache::source::miss) out_.upstream_status = head.status;
    if (head.status != 200) {
      found.mark.reset();
      co_return co_await respond_origin_error(head);
    }
    representation rep{head.length, "", head.last_modified};
    auto plan = plan_response(rep, conditions_);
    if (plan.status == 416) co_return co_await respond_unsatisfiable(plan);
    if (ranges_upstream && plan.status == 206 &&
        plan.begin >= found.filling->snapshot().available + far_ahead_bytes) {
      // A seek far beyond what has arrived (a player jumping to the end on first play): fetch
      // that range directly while the fill goes on, rather than wait for the fill to get there.
      const bool answered = co_await respond_range_ahead(head, rep, plan, found.mark);
      if (answered) co_return;
    }
    auto headers = audio_headers(head.content_type, rep);
    if (plan.status == 206) headers.emplace_back("Content-Range", plan.content_range);
    auto body = cache::read_fill(gw_.recordings->storage(), found.filling, plan.begin,
                                 plan.end ? plan.end : head.length, std::move(found.mark));
    co_return co_await respond_body(plan.status, headers, *body);
  }

  // The range straight from the upstream (not cached); nullopt when the upstream does not
  // answer it as asked, and the caller then waits for the fill instead.
  // `mark`: this request's place in the fill, let go once it is answered from the upstream.
  net::awaitable<bool> respond_range_ahead(const cache::origin_head& head,
                                           const representation& rep, const response_plan& plan,
                                           cache::fill::reader_mark& mark) {
    recording_request ranged = request_;
    ranged.upstream_range.emplace(plan.begin, *plan.end - 1);
    auto response = co_await fetch_from_upstream(project_->client(), ranged, request_id_);
    // Exactly the bytes asked for, or nothing: a 206 for another range is not this answer.
    if (response.head.status != 206 || response.head.length != *plan.end - plan.begin ||
        response.head.content_range != plan.content_range) {
      co_return false;
    }
    out_.cache = "RANGE";
    out_.upstream_status = 206;
    mark.reset();
    auto headers = audio_headers(head.content_type, rep);
    headers.emplace_back("Content-Range", plan.content_range);
    co_await respond_body(206, headers, *response.body);
    co_return true;
  }

  // Serves `range` straight from the upstream before the fill's head is known: the
  // representation (length, Last-Modified) is the one the upstream's 206 describes. nullopt when
  // the upstream does not answer exactly that range; the caller then uses the fill.
  net::awaitable<bool> respond_range_early(const byte_range& range,
                                           cache::fill::reader_mark& mark) {
    recording_request ranged = request_;
    std::uint64_t last = range.last >= recording_request::open_range_end - 1
                             ? recording_request::open_range_end
                             : range.last;
    ranged.upstream_range.emplace(range.first, last);
    auto response = co_await fetch_from_upstream(project_->client(), ranged, request_id_);
    if (response.head.status != 206) co_return false;
    auto total = content_range_length(response.head.content_range);
    if (!total) co_return false;
    representation rep{*total, "", response.head.last_modified};
    auto plan = plan_response(rep, conditions_);
    if (plan.status != 206 || plan.content_range != response.head.content_range || !plan.end ||
        response.head.length != *plan.end - plan.begin) {
      co_return false;
    }
    out_.cache = "RANGE";
    out_.upstream_status = 206;
    mark.reset();
    auto headers = audio_headers(response.head.content_type, rep);
    headers.emplace_back("Content-Range", plan.content_range);
    co_await respond_body(206, headers, *response.body);
    co_return true;
  }

  header_list audio_headers(const std::string& type, const representation& rep) const {
    header_list h;
    h.reserve(8 + audio_extra_.size());  // every field below and Content-Range: no regrowth
    h.emplace_back("Content-Type",
                   type.empty() ? std::string(content_type(request_.format)) : type);
    if (rep.length) h.emplace_back("Accept-Ranges", "bytes");
    if (!rep.etag.empty()) h.emplace_back("ETag", rep.etag);
    if (!rep.last_modified.empty()) h.emplace_back("Last-Modified", rep.last_modified);
    if (!live_.cache_control.empty()) {
      h.emplace_back("Cache-Control", live_.cache_control);
    }
    h.emplace_back("X-Cache", out_.cache);
    h.insert(h.end(), audio_extra_.begin(), audio_extra_.end());
    return h;
  }

  net::awaitable<void> respond_unsatisfiable(const response_plan& plan) {
    header_list extra;
    extra.emplace_back("Content-Range", plan.content_range);
    co_return co_await respond_error(416, "The requested range is not satisfiable", extra);
  }

  // What the origin said, as the client should hear it: unreachable 502, too slow 504, 5xx 502,
  // 4xx passed through (its JSON body, or ours when it sent none).
  net::awaitable<void> respond_origin_error(const cache::origin_head& head) {
    if (head.local) {
      // The gateway's own answer for a derived object (peaks): as it is.
      header_list extra;
      if (head.status == 503) extra.emplace_back("Retry-After", "1");
      auto w = co_await write_json(reply_to(request_.head), head.status, head.error_body, extra);
      co_return finish(head.status, w);
    }
    if (head.unavailable) {
      header_list extra;
      auto cooldown =
          std::chrono::duration_cast<std::chrono::seconds>(gw_.fixed.upstream.breaker_cooldown);
      extra.emplace_back("Retry-After", std::to_string(std::max<long>(1, cooldown.count())));
      co_return co_await respond_error(
          503, "The upstream is failing; the gateway is not sending it requests for now", extra);
    }
    if (head.status == 0) {
      co_return co_await respond_error(head.timed_out ? 504 : 502,
                                       head.timed_out
                                           ? "The upstream did not answer in time"
                                           : "The upstream could not be reached or answered badly");
    }
    if (!request_.is_audio() && (head.status == 401 || head.status == 403)) {
      // The gateway signed this request with its own credentials: their refusal is the gateway's
      // failure, not the consumer's (whose key was accepted), and says so without any secret.
      co_return co_await respond_error(
          502,
          "The upstream refused the gateway's credentials for this project; the gateway's "
          "operator must update its API token");
    }
    std::string said = "The upstream answered " + std::to_string(head.status);
    if (head.status >= 400 && head.status < 500) {
      if (is_json_type(head.error_content_type) && !head.error_body.empty()) {
        auto w = co_await write_json(reply_to(request_.head), head.status, head.error_body);
        co_return finish(head.status, w);
      }
      co_return co_await respond_error(head.status, said);
    }
    co_return co_await respond_error(502, said);
  }

  net::awaitable<void> respond_error(unsigned status, std::string_view message,
                                     const header_list& extra = {}) {
    auto w = co_await write_error(reply_to(request_.head), status, message, extra);
    co_return finish(status, w);
  }

  // `committed`: the body is a committed object's, read from the store.
  net::awaitable<void> respond_body(unsigned status, const header_list& headers, body_source& body,
                                    bool committed = false) {
    auto w = co_await write_streamed(reply_to(request_.head), status, headers, body,
                                     gw_.fixed.upstream.buffer_bytes, budget_);
    if (w.unread && committed) co_return co_await respond_unreadable();
    if (w.unread)
      co_return co_await respond_error(502, "The recording could not be read; try again");
    co_return finish(status, w);
  }

  // A cached body unreadable from its first byte (damaged, which the cache has dropped already,
  // or a store failing): nothing is sent yet, so the client still gets the whole recording. Once
  // through the cache again (a miss now: fetched and stored anew), then from the upstream
  // directly, as without a cache.
  net::awaitable<void> respond_unreadable() {
    if (!retried_ && gw_.recordings) {
      retried_ = true;
      co_return co_await respond_cached();
    }
    out_.cache = "BYPASS";
    if (request_.format == recording_format::peaks) co_return co_await respond_peaks_uncached();
    co_return co_await respond_passthrough();
  }

  // This request's answer goes to its client, on its connection's terms.
  reply reply_to(bool head) const {
    return {client_, request_id_, head, keep_alive_, live_.server.write_timeout};
  }

  void finish(unsigned status, const write_result& w) {
    out_.status = status;
    out_.bytes = w.body_bytes;
    out_.keep_alive = keep_alive_ && w.complete;
  }

  token_bucket* budget_;
  const header_list& audio_extra_;
  gateway& gw_;
  const live_settings& live_;  // this request's snapshot, kept by the session
  client_stream& client_;
  const recording_request& request_;
  const conditional_headers& conditions_;
  const std::string& request_id_;
  bool keep_alive_;
  bool retried_ = false;                       // respond_unreadable went through the cache once
  std::shared_ptr<upstream_project> project_;  // the AccountSid's, once found
  endpoint_outcome& out_;                      // the caller's: filled in place, never moved
};

}  // namespace

net::awaitable<void> serve_recording(gateway& gw, const live_settings& live, client_stream& client,
                                     const recording_request& request,
                                     const conditional_headers& conditions,
                                     const std::string& request_id, bool keep_alive,
                                     token_bucket* budget, const header_list& audio_extra,
                                     endpoint_outcome& out) {
  responder r(gw, live, client, request, conditions, request_id, keep_alive, budget, audio_extra,
              out);
  co_await r.run();
}

}  // namespace recgate
