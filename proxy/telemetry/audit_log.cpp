#include "proxy/telemetry/audit_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "proxy/telemetry/logging.hpp"

namespace recgate {
namespace {

// Above this many buffered bytes the flusher is woken early; above the hard limit the request
// writes itself rather than let memory grow while the disk is slow.
constexpr std::size_t wake_bytes = 256 * 1024;
constexpr std::size_t hard_limit_bytes = 16 * 1024 * 1024;

result<int> open_for_append(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail("cannot open audit file " + path + ": " + std::strerror(errno));
  return fd;
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point when) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[80];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(ms % 1000));
  return text;
}

std::string format_audit_line(const audit_record& r, std::chrono::system_clock::time_point when) {
  nlohmann::ordered_json j;
  j["time"] = rfc3339_utc(when);
  j["consumer"] = r.consumer;
  j["key_id"] = r.key_id;
  j["account_sid"] = r.account_sid;
  j["recording_sid"] = r.recording_sid;
  j["format"] = r.format;
  j["method"] = r.method;
  j["status"] = r.status;
  j["bytes"] = r.bytes;
  if (!r.range.empty()) j["range"] = r.range;
  j["client"] = r.client;
  j["request_id"] = r.request_id;
  j["decision"] = r.decision;
  if (!r.project.empty()) j["project"] = r.project;
  // Invalid UTF-8 (a client's odd Range header) is replaced, never a reason to lose the line.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

result<std::unique_ptr<audit_log>> audit_log::open(const config::audit_config& cfg) {
  auto fd = open_for_append(cfg.file);
  if (!fd.ok()) return fail(fd.error());
  return std::unique_ptr<audit_log>(new audit_log(cfg, *fd));
}

audit_log::audit_log(const config::audit_config& cfg, int fd) : cfg_(cfg), fd_(fd) {
  flusher_ = std::thread([this] { run_flusher(); });
}

audit_log::~audit_log() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  flusher_.join();
  flush();
  ::close(fd_);
}

void audit_log::append(const audit_record& record) {
  auto line = format_audit_line(record, std::chrono::system_clock::now());
  std::size_t buffered = 0;
  {
    std::lock_guard lock(mutex_);
    buffer_ += line;
    buffered = buffer_.size();
  }
  if (buffered >= hard_limit_bytes) {
    flush();
  } else if (buffered >= wake_bytes) {
    wake_.notify_one();
  }
}

void audit_log::write_buffered() {
  std::string pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(buffer_);
  }
  if (pending.empty()) return;
  std::uint64_t lines =
      static_cast<std::uint64_t>(std::count(pending.begin(), pending.end(), '\n'));
  std::size_t done = 0;
  while (done < pending.size()) {
    auto n = ::write(fd_, pending.data() + done, pending.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  std::lock_guard lock(mutex_);
  if (done == pending.size()) {
    lines_written_ += lines;
  } else {
    ++write_errors_;
    logging::error("audit: cannot write to " + cfg_.file + ": " + std::strerror(errno) + " (" +
                   std::to_string(lines) + " lines lost)");
  }
}

void audit_log::flush() {
  std::lock_guard write_lock(write_mutex_);
  write_buffered();
}

result<void> audit_log::reopen() {
  std::lock_guard write_lock(write_mutex_);
  write_buffered();
  auto fd = open_for_append(cfg_.file);
  if (!fd.ok()) return fail(fd.error());
  ::close(fd_);
  fd_ = *fd;
  return {};
}

void audit_log::run_flusher() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, cfg_.flush_interval,
                   [this] { return stopping_ || buffer_.size() >= wake_bytes; });
    lock.unlock();
    flush();
    lock.lock();
  }
}

std::uint64_t audit_log::lines_written() const {
  std::lock_guard lock(mutex_);
  return lines_written_;
}

std::uint64_t audit_log::write_errors() const {
  std::lock_guard lock(mutex_);
  return write_errors_;
}

}  // namespace recgate
