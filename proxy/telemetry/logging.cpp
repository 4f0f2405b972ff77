#include "proxy/telemetry/logging.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
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
bool json_format = false;

// Collects formatted access lines and hands them to `target` (an asynchronous logger that
// writes its messages as they are) a batch at a time: when the batch is full, and on flush,
// which spdlog's periodic flusher calls every second.
class access_batch_sink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit access_batch_sink(std::shared_ptr<spdlog::logger> target) : target_(std::move(target)) {
    batch_.reserve(access_batch_bytes + 1024);
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
  access_logger = std::make_shared<spdlog::logger>(
      "access", std::make_shared<access_batch_sink>(access_batches));
  auto level = spdlog::level::from_str(cfg.level);
  for (auto& l : {main_logger, access_logger}) {
    l->set_level(level);
    l->set_pattern(json_format ? R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","log":"%n",%v})"
                               : "%Y-%m-%dT%H:%M:%S.%e%z %l %n %v");
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
  if (access_logger) access_logger->flush();  // its batch, into the queue before the end
  if (main_logger) main_logger->flush();
  main_logger.reset();
  access_logger.reset();
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

// A text value that may carry client bytes: quoted, anything unprintable escaped. Runs of
// plain characters (nearly every value whole) are appended at once.
void append_quoted(line_buffer& out, std::string_view s) {
  out.push_back('"');
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c != '\\' && c >= 0x20 && c < 0x7f) continue;
    append(out, s.substr(plain_from, i - plain_from));
    plain_from = i + 1;
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    }
  }
  append(out, s.substr(plain_from));
  out.push_back('"');
}

// Milliseconds with three decimals ("12.345"), from whole microseconds: integer formatting,
// cheaper than a float's.
void append_millis(line_buffer& out, double ms) {
  const auto us = static_cast<std::uint64_t>(std::llround(std::max(0.0, ms) * 1000.0));
  fmt::format_to(std::back_inserter(out), "{}.{:03}", us / 1000, us % 1000);
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
  fmt::format_to(std::back_inserter(out),
                 " status={} bytes={} upstream_status={} duration_ms=", r.status, r.bytes,
                 r.upstream_status);
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

bool access_enabled() { return access_logger && access_logger->should_log(spdlog::level::info); }

void access(const access_record& record) {
  // Formatted only when it will be written: with access lines off (level warn) a request pays
  // nothing for its log line.
  if (!access_enabled()) return;
  line_buffer line;  // on the stack: a line longer than its inline bytes is rare
  format_into(line, record, json_format);
  access_logger->info(std::string_view(line.data(), line.size()));
}

}  // namespace recgate::logging
