#include "proxy/callbacks/prefetcher.hpp"

#include <cassert>

#include "cache/cache.hpp"
#include "proxy/callbacks/callback_forwarder.hpp"
#include "proxy/telemetry/logging.hpp"
#include "proxy/upstream/upstream_client.hpp"
#include "proxy/upstream/upstream_origin.hpp"
#include "proxy/upstream/upstream_projects.hpp"
#include "util/net/net.hpp"

namespace recgate {

prefetcher::prefetcher(const config::callbacks_config& cfg, cache::cache* recordings,
                       const shared_setting<const upstream_projects>& projects,
                       net::any_io_executor io)
    : cfg_(cfg), recordings_(recordings), projects_(projects), io_(std::move(io)) {
  assert(recordings_ != nullptr || cfg_.prefetch_formats.empty());
}

std::size_t prefetcher::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::size_t prefetcher::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool prefetcher::submit(prefetch_job job) {
  {
    std::lock_guard lock(mutex_);
    if (running_ >= cfg_.concurrency) {
      if (queue_.size() < cfg_.queue_limit) {
        queue_.push_back(std::move(job));
        assert(queue_.size() <= cfg_.queue_limit);
        return true;
      }
      ++counters_.refused;
      logging::warn("request_id=" + job.request_id + " prefetch queue full (" +
                    std::to_string(queue_.size()) + " waiting): callback for sid=" + job.sid +
                    " refused");
      return false;
    }
    ++running_;
    assert(running_ <= cfg_.concurrency);
  }
  // A worker of its own: it takes queued jobs after this one until the queue is empty.
  net::co_spawn(net::make_strand(io_), work(std::move(job)), [](std::exception_ptr) {});
  return true;
}

net::awaitable<void> prefetcher::work(prefetch_job job) {
  for (;;) {
    try {
      co_await run(job);
    } catch (const std::exception& e) {
      logging::error("request_id=" + job.request_id + " prefetch of sid=" + job.sid +
                     " ended by an exception: " + e.what());
    }
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      --running_;
      break;
    }
    job = std::move(queue_.front());
    queue_.pop_front();
  }
}

net::awaitable<void> prefetcher::run(const prefetch_job& job) {
  std::string_view outcome = "none";
  if (job.prefetch) {
    outcome = "done";
    for (const auto& format : cfg_.prefetch_formats) {
      if (co_await fetch(job, format) == fetched::failed) outcome = "failed";
    }
  }
  if (cfg_.forward_url.empty()) co_return;
  // After the prefetch: whoever receives the callback can count on a cache hit.
  std::string outcome_text(outcome);
  auto answer = co_await forward_callback(cfg_, job.form_body, job.request_id, outcome_text);
  if (answer.status >= 200 && answer.status < 300) {
    ++counters_.forwarded;
    logging::info("request_id=" + job.request_id + " callback for sid=" + job.sid +
                  " forwarded: " + std::to_string(answer.status));
  } else {
    ++counters_.forward_failed;
    logging::warn("request_id=" + job.request_id + " callback for sid=" + job.sid +
                  " not forwarded: " +
                  (answer.status ? "answered " + std::to_string(answer.status) : answer.error));
  }
}

net::awaitable<prefetcher::fetched> prefetcher::fetch(const prefetch_job& job,
                                                      const std::string& format) {
  std::string where = "request_id=" + job.request_id + " prefetch sid=" + job.sid + "." + format;
  cache::object_key key{job.account_sid, job.sid, format};
  auto project = projects_.load()->find(job.account_sid);
  if (!project) {  // removed by a reload since the callback was accepted
    ++counters_.failed;
    logging::warn(where + ": no project serves this AccountSid any more");
    co_return fetched::failed;
  }
  auto found = recordings_->get(key, upstream_origin(std::move(project), job.request_id));
  found.mark.reset();  // the job waits for the fill's end, it reads nothing
  if (found.from == cache::cache::source::hit) {
    ++counters_.skipped;
    logging::info(where + ": already cached");
    co_return fetched::cached;
  }
  ++counters_.started;
  if (found.from == cache::cache::source::negative) {
    ++counters_.failed;
    logging::warn(where + ": the upstream answered 404 recently");
    co_return fetched::failed;
  }
  if (found.from == cache::cache::source::bypass) {
    ++counters_.failed;
    logging::warn(where + ": the cache's store takes no writes now");
    co_return fetched::failed;
  }
  // The fill runs on its own; this job only holds its concurrency slot until the fill ends.
  auto head = co_await found.filling->wait_head();
  if (head.status == 200) co_await found.filling->wait_end();
  auto stored = recordings_->peek(key);
  if (stored && stored->committed) {
    ++counters_.done;
    logging::info(where + ": cached " + std::to_string(stored->committed->length) + " bytes");
    co_return fetched::done;
  }
  ++counters_.failed;
  logging::warn(where + ": failed (" +
                (head.status           ? "upstream " + std::to_string(head.status)
                 : head.detail.empty() ? std::string("no answer")
                                       : head.detail) +
                ")");
  co_return fetched::failed;
}

}  // namespace recgate
