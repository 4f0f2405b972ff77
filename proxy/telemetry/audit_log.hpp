#pragma once
// The audit trail: one JSON line per recording access (audio or metadata, allowed or denied),
// appended to audit.file, apart from the access log. Who (consumer and key id, "signed:<id>"
// for a signed URL, "cert:<identity>" for a client certificate), which recording and format,
// when, how many body bytes, which range, from where, and the request id. Never a credential.
//
// The file is opened O_APPEND (created 0600) and written in whole lines. Lines are buffered and
// written by a background thread every flush_interval (no write or fsync per request), and at
// flush(), reopen() and destruction. reopen() is for logrotate (SIGHUP).
//
// Thread safety: every member may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "util/result.hpp"

namespace recgate {

struct audit_record {
  std::string consumer = "-";  // "-" when no credential matched
  std::string key_id;          // "" when none
  std::string account_sid;
  std::string recording_sid;
  std::string format;  // wav, mp3, json
  std::string method;  // GET, HEAD
  unsigned status = 0;
  std::uint64_t bytes = 0;  // body bytes sent
  std::string range;        // the Range header as sent; "" when none
  std::string client;       // the peer's address
  std::string request_id;
  std::string decision;  // the access decision's reason ("allowed", "bad signature", ...)
  std::string project;   // the SignalWire project's id; "" when none was involved (denied)
};

// The JSON line for a record (with '\n'), time in RFC 3339 UTC with milliseconds.
std::string format_audit_line(const audit_record& record,
                              std::chrono::system_clock::time_point when);

// "2024-05-06T17:20:11.123Z".
std::string rfc3339_utc(std::chrono::system_clock::time_point when);

class audit_log {
 public:
  // Opens (creates 0600) path for appending; why not when it cannot.
  static result<std::unique_ptr<audit_log>> open(const config::audit_config& cfg);
  // Flushes what is buffered, stops the flusher thread, closes the file.
  ~audit_log();
  audit_log(const audit_log&) = delete;
  audit_log& operator=(const audit_log&) = delete;

  // Buffers the record's line; written within flush_interval (at once when the buffer is large).
  void append(const audit_record& record);
  // Writes every buffered line now.
  void flush();
  // Writes what is buffered to the old file, then opens the path again (logrotate moved it).
  // Why not when the path cannot be opened: the old file stays in use.
  result<void> reopen();

  std::uint64_t lines_written() const;
  std::uint64_t write_errors() const;

 private:
  audit_log(const config::audit_config& cfg, int fd);
  void run_flusher();
  // Takes the buffered lines and writes them to fd_. Prereq: write_mutex_ held.
  void write_buffered();

  const config::audit_config cfg_;
  // Lock order: write_mutex_ before mutex_. Requests only ever take mutex_, briefly.
  std::mutex write_mutex_;  // the file: one writer at a time, lines in order; guards fd_
  int fd_;
  mutable std::mutex mutex_;  // the buffer and counters
  std::condition_variable wake_;
  std::string buffer_;
  std::uint64_t lines_written_ = 0;
  std::uint64_t write_errors_ = 0;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace recgate
