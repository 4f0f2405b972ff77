#include "proxy/telemetry/logging.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace recgate::logging {
namespace {

std::shared_ptr<spdlog::logger> main_logger;
std::shared_ptr<spdlog::logger> access_logger;   // formats lines into batches
std::shared_ptr<spdlog::logger> access_batches;  // writes the batches (asynchronous)
class access_batch_sink;
std::shared_ptr<access_batch_sink> access_sink;  // access_logger's sink, written to directly
bool json_format = false;

// Collects formatted access lines and hands them to `target` (an asynchronous logger that
// writes its messages as they are) a batch at a time: when the batch is full, and on flush,
// which spdlog's periodic flusher calls every second.
class access_batch_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit access_batch_sink(std::shared_ptr<spdlog::logger> target) : target_(std::move(target)) {
    batch_.reserve(access_batch_bytes + 1024);
  }

  // A whole access line, prefix and newline included, formatted by logging::access: appended as
  // it is (no pattern formatter, no second copy).
  void add_line(std::string_view line) {
    std::lock_guard lock(mutex_);
    batch_.append(line);
    if (batch_.size() >= access_batch_bytes) hand_over();
  }

 private:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    formatted_.clear();
    formatter_->format(msg, formatted_);
    batch_.append(formatted_.data(), formatted_.size());
    if (batch_.size() >= access_batch_bytes) hand_over();
  }
  void flush_() override {
    hand_over();
    target_->flush();
  }
  void hand_over() {
    if (batch_.empty()) return;
    target_->info(std::string_view(batch_));
    batch_.clear();
  }

  std::shared_ptr<spdlog::logger> target_;
  spdlog::memory_buf_t formatted_;
  std::string batch_;
};

std::string json_fields(const nlohmann::json& object) {
  std::string s = object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return s.substr(1, s.size() - 2);  // the pattern supplies the braces
}

void log(spdlog::level::level_enum level, std::string_view message) {
  if (!main_logger) return;
  if (json_format)
    main_logger->log(level, json_fields({{"msg", message}}));
  else
    main_logger->log(level, message);
}

}  // namespace

void init(const config::log_config& cfg) {
  assert(!main_logger);  // once
  json_format = cfg.format == "json";
  spdlog::init_thread_pool(16384, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  // Blocking when the queue is full keeps every access line; dropping them would hide traffic.
  main_logger = std::make_shared<spdlog::async_logger>("recgate", sink, spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::block);
  // A sink of its own (formatters belong to sinks) on the same stdout and the same console
  // mutex: a batch is written as it is, and never inside another line.
  auto batch_out = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  batch_out->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%v", spdlog::pattern_time_type::local, std::string()));  // batches end in a newline
  access_batches = std::make_shared<spdlog::async_logger>(
      "access-batches", batch_out, spdlog::thread_pool(), spdlog::async_overflow_policy::block);
  access_batches->set_level(spdlog::level::info);
  access_sink = std::make_shared<access_batch_sink>(access_batches);
  access_logger = std::make_shared<spdlog::logger>("access", access_sink);
  auto level = spdlog::level::from_str(cfg.level);
  for (auto& l : {main_logger, access_logger}) {
    l->set_level(level);
    l->set_pattern(json_format ? json_pattern : text_pattern);
  }
  main_logger->flush_on(spdlog::level::warn);
  access_logger->set_level(level <= spdlog::level::info ? spdlog::level::info : level);
  // stdout to a pipe or file is block-buffered, and access lines wait in their batch: both go
  // out at least once a second.
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::register_logger(main_logger);
  spdlog::register_logger(access_logger);
}

void shutdown() {
  spdlog::flush_every(std::chrono::seconds(0));  // the periodic flusher stopped (joined) first
  if (access_logger) access_logger->flush();     // its batch, into the queue before the end
  if (main_logger) main_logger->flush();
  // The logging thread writes every message still queued (each holds a reference to its logger)
  // and stops before the loggers are dropped here: otherwise a logger's last reference could be
  // released on either thread, and its memory freed there while the other still touches it
  // (ThreadSanitizer saw it at exit). The pool's destructor drains its queue and joins.
  spdlog::details::registry::instance().set_tp(nullptr);
  main_logger.reset();
  access_logger.reset();
  access_sink.reset();
  access_batches.reset();
  spdlog::shutdown();
}

void debug(std::string_view message) { log(spdlog::level::debug, message); }
void info(std::string_view message) { log(spdlog::level::info, message); }
void warn(std::string_view message) { log(spdlog::level::warn, message); }
void error(std::string_view message) { log(spdlog::level::err, message); }

namespace {

using line_buffer = spdlog::memory_buf_t;

void append(line_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

// The bytes a quoted text value shows as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> shown_as_is = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

void append_number(line_buffer& out, std::uint64_t n) {
  char digits[20];
  auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

// A text value that may carry client bytes: quoted, anything unprintable escaped. Runs of
// plain characters (nearly every value whole) are found by a table lookup per byte and
// appended at once.
void append_quoted(line_buffer& out, std::string_view s) {
  out.push_back('"');
  const char* const end = s.data() + s.size();
  const char* at = s.data();
  for (;;) {
    const char* run = at;
    while (at != end && shown_as_is[static_cast<unsigned char>(*at)]) ++at;
    out.append(run, at);
    if (at == end) break;
    const auto c = static_cast<unsigned char>(*at++);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      const char escaped[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
      out.append(escaped, escaped + 4);
    }
  }
  out.push_back('"');
}

// Milliseconds with three decimals ("12.345"), from whole microseconds: integer formatting,
// cheaper than a float's.
void append_millis(line_buffer& out, double ms) {
  const auto us = static_cast<std::uint64_t>(std::llround(std::max(0.0, ms) * 1000.0));
  append_number(out, us / 1000);
  const auto fraction = static_cast<unsigned>(us % 1000);
  const char decimals[4] = {'.', static_cast<char>('0' + fraction / 100),
                            static_cast<char>('0' + fraction / 10 % 10),
                            static_cast<char>('0' + fraction % 10)};
  out.append(decimals, decimals + 4);
}

// A JSON string. ASCII is escaped here; a value with other bytes goes through nlohmann, which
// checks its UTF-8 and replaces what is invalid (rare: client bytes in a path).
void append_json_string(line_buffer& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) {
      append(out, nlohmann::json(std::string(s))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      return;
    }
  }
  out.push_back('"');
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f) continue;
    append(out, s.substr(plain_from, i - plain_from));
    plain_from = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    }
  }
  append(out, s.substr(plain_from));
  out.push_back('"');
}

void format_text(line_buffer& out, const access_record& r) {
  append(out, "request_id=");
  append(out, r.request_id);
  append(out, " client=");
  append(out, r.client);
  for (auto [name, value] : {std::pair{" consumer=", r.consumer},
                             {" key=", r.key_id},
                             {" decision=", r.decision},
                             {" method=", r.method},
                             {" path=", r.path}}) {
    append(out, name);
    append_quoted(out, value);
  }
  append(out, " status=");
  append_number(out, r.status);
  append(out, " bytes=");
  append_number(out, r.bytes);
  append(out, " upstream_status=");
  append_number(out, r.upstream_status);
  append(out, " duration_ms=");
  append_millis(out, r.duration_ms);
  append(out, " cache=");
  append(out, r.cache);
  append(out, " project=");
  append_quoted(out, r.project);
}

void format_json(line_buffer& out, const access_record& r) {
  auto field = [&out](std::string_view name, std::string_view value) {
    out.push_back('"');
    append(out, name);
    append(out, "\":");
    append_json_string(out, value);
    out.push_back(',');
  };
  field("request_id", r.request_id);
  field("client", r.client);
  field("consumer", r.consumer);
  field("key", r.key_id);
  field("decision", r.decision);
  field("method", r.method);
  field("path", r.path);
  fmt::format_to(std::back_inserter(out),
                 R"("status":{},"bytes":{},"upstream_status":{},"duration_ms":)", r.status, r.bytes,
                 r.upstream_status);
  append_millis(out, r.duration_ms);
  append(out, ",\"cache\":");
  append_json_string(out, r.cache);
  append(out, ",\"project\":");
  append_json_string(out, r.project);
}

// What the loggers' pattern (set in init) puts before a line, for the access lines that go
// straight into their batch: "%Y-%m-%dT%H:%M:%S.%e%z info access " or its JSON form. Local time
// as the pattern has it; the part down to the second (and the zone) is formatted once a second
// per thread.
void append_prefix(line_buffer& out, bool json, std::chrono::system_clock::time_point now) {
  const auto since_epoch = now.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = static_cast<unsigned>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count());
  thread_local std::time_t formatted_at = -1;
  thread_local char date_time[32];  // "%Y-%m-%dT%H:%M:%S"
  thread_local std::size_t date_time_length = 0;
  thread_local char zone[8];  // "+hh:mm"
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  if (t != formatted_at) {
    std::tm tm{};
    localtime_r(&t, &tm);
    date_time_length = std::strftime(date_time, sizeof date_time, "%Y-%m-%dT%H:%M:%S", &tm);
    long minutes = tm.tm_gmtoff / 60;
    zone[0] = minutes < 0 ? '-' : '+';
    if (minutes < 0) minutes = -minutes;
    const long hours = minutes / 60 % 100;
    minutes %= 60;
    zone[1] = static_cast<char>('0' + hours / 10);
    zone[2] = static_cast<char>('0' + hours % 10);
    zone[3] = ':';
    zone[4] = static_cast<char>('0' + minutes / 10);
    zone[5] = static_cast<char>('0' + minutes % 10);
    formatted_at = t;
  }
  if (json) append(out, R"({"time":")");
  out.append(date_time, date_time + date_time_length);
  const char fraction[4] = {'.', static_cast<char>('0' + millis / 100),
                            static_cast<char>('0' + millis / 10 % 10),
                            static_cast<char>('0' + millis % 10)};
  out.append(fraction, fraction + 4);
  out.append(zone, zone + 6);
  append(out, json ? R"(","level":"info","log":"access",)" : " info access ");
}

void format_into(line_buffer& out, const access_record& r, bool json) {
  if (json)
    format_json(out, r);
  else
    format_text(out, r);
}

}  // namespace

std::string format_access(const access_record& r, bool json) {
  line_buffer out;
  format_into(out, r, json);
  return fmt::to_string(out);
}

std::string access_prefix(std::chrono::system_clock::time_point at, bool json) {
  line_buffer out;
  append_prefix(out, json, at);
  return fmt::to_string(out);
}

bool access_enabled() { return access_logger && access_logger->should_log(spdlog::level::info); }

void access(const access_record& record) {
  // Formatted only when it will be written: with access lines off (level warn) a request pays
  // nothing for its log line.
  if (!access_enabled()) return;
  line_buffer line;  // on the stack: a line longer than its inline bytes is rare
  append_prefix(line, json_format, std::chrono::system_clock::now());
  format_into(line, record, json_format);
  if (json_format) line.push_back('}');
  append(line, spdlog::details::os::default_eol);
  access_sink->add_line(std::string_view(line.data(), line.size()));
}

}  // namespace recgate::logging
