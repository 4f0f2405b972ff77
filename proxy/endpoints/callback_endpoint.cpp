#include "proxy/endpoints/callback_endpoint.hpp"

#include <cassert>

#include "proxy/callbacks/prefetcher.hpp"
#include "proxy/callbacks/status_callback.hpp"
#include "proxy/http/response_writer.hpp"
#include "proxy/telemetry/logging.hpp"
#include "util/net/net.hpp"

namespace recgate {

net::awaitable<endpoint_outcome> serve_status_callback(gateway& gw, const live_settings& live,
                                                       client_stream& stream,
                                                       const http::request<http::string_body>& req,
                                                       const std::string& request_id,
                                                       bool keep_alive) {
  assert(gw.prefetch);
  const auto& cfg = gw.fixed.callbacks;
  // Only a 405 may answer a HEAD with headers alone; the rest answer a POST.
  const reply to{stream, request_id, false, keep_alive, live.server.write_timeout};
  endpoint_outcome out;
  gw.stats.callbacks_received.fetch_add(1, std::memory_order_relaxed);
  auto finish = [&](unsigned status, const write_result& w) {
    out.status = status;
    out.bytes = w.body_bytes;
    out.keep_alive = keep_alive && w.complete;
    return out;
  };

  if (req.method() != http::verb::post) {
    gw.stats.callbacks_rejected.add({"method"});
    out.decision = "not POST";
    header_list allow;
    allow.emplace_back("Allow", "POST");
    auto head = to;
    head.head = req.method() == http::verb::head;
    auto w = co_await write_error(head, 405, "Use POST", allow);
    co_return finish(405, w);
  }

  std::string_view signature = req["X-SignalWire-Signature"];
  if (signature.empty()) signature = req["X-Twilio-Signature"];
  std::string url = signed_callback_url(cfg, stream.secure(), req[http::field::host], req.target());
  callback_input input{req[http::field::content_type], req.body(), signature, url};
  std::vector<callback_account> served;
  for (const auto& p : gw.projects.load()->all()) {
    served.push_back({p->account_sid(), p->callback_signing_key()});
  }
  auto verdict = evaluate_callback(cfg, served, input);
  out.decision = verdict.reason;

  if (verdict.status != 204) {
    gw.stats.callbacks_rejected.add({verdict.status == 403 ? "forbidden" : "invalid"});
    auto w = co_await write_error(to, verdict.status, verdict.message);
    co_return finish(verdict.status, w);
  }

  // Every verified callback is forwarded when forward_url is set; completed ones prefetch first.
  if (verdict.prefetch || !cfg.forward_url.empty()) {
    prefetch_job job;
    job.account_sid = verdict.account_sid;
    job.sid = verdict.recording_sid;
    job.prefetch = verdict.prefetch;
    job.request_id = request_id;
    if (!cfg.forward_url.empty()) job.form_body = req.body();
    if (!gw.prefetch->submit(std::move(job))) {  // counted and logged by the prefetcher
      out.decision = "prefetch queue full";
      header_list retry;
      retry.emplace_back("Retry-After", "1");
      auto w =
          co_await write_error(to, 503, "Too many callbacks waiting: try again shortly", retry);
      co_return finish(503, w);
    }
  }
  // A recording gone for good upstream leaves the cache, and is not asked for again.
  if (verdict.gone) {
    if (gw.metadata) gw.metadata->erase(verdict.account_sid, verdict.recording_sid);
    if (gw.recordings) {
      if (auto removed = gw.recordings->remove_deleted(verdict.account_sid, verdict.recording_sid);
          !removed.ok()) {
        logging::error("request_id=" + request_id + " could not purge recording " +
                       verdict.recording_sid + " after its status callback: " + removed.error());
      }
    }
  }
  // RecordingStatus is the sender's text: only a plain word of it reaches the log.
  std::string status_word;
  for (char c : verdict.recording_status.substr(0, 32)) {
    status_word += (c >= 'a' && c <= 'z') || c == '-' ? c : '?';
  }
  logging::info("request_id=" + request_id + " recording status callback sid=" +
                verdict.recording_sid + " status=" + status_word + ": " + verdict.reason);
  auto w = co_await write_empty(to, 204, {});
  co_return finish(204, w);
}

}  // namespace recgate
