#include "proxy/telemetry/logging.hpp"

#include <cassert>
#include <cstdio>

#include <nlohmann/json.hpp>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace recgate::logging {
namespace {

std::shared_ptr<spdlog::logger> main_logger;
std::shared_ptr<spdlog::logger> access_logger;
bool json_format = false;

// Text logs quote values that may carry client bytes, escaping anything unprintable.
std::string escaped(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

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
  access_logger = std::make_shared<spdlog::async_logger>("access", sink, spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::block);
  auto level = spdlog::level::from_str(cfg.level);
  for (auto& l : {main_logger, access_logger}) {
    l->set_level(level);
    l->set_pattern(json_format ? R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","log":"%n",%v})"
                               : "%Y-%m-%dT%H:%M:%S.%e%z %l %n %v");
    l->flush_on(spdlog::level::warn);
  }
  access_logger->set_level(level <= spdlog::level::info ? spdlog::level::info : level);
  // stdout to a pipe or file is block-buffered; flush at least once a second.
  spdlog::flush_every(std::chrono::seconds(1));
  spdlog::register_logger(main_logger);
  spdlog::register_logger(access_logger);
}

void shutdown() {
  if (main_logger) main_logger->flush();
  if (access_logger) access_logger->flush();
  main_logger.reset();
  access_logger.reset();
  spdlog::shutdown();
}

void debug(std::string_view message) { log(spdlog::level::debug, message); }
void info(std::string_view message) { log(spdlog::level::info, message); }
void warn(std::string_view message) { log(spdlog::level::warn, message); }
void error(std::string_view message) { log(spdlog::level::err, message); }

std::string format_access(const access_record& r, bool json) {
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", r.duration_ms);
  if (json) {
    return json_fields({{"request_id", r.request_id},
                        {"client", r.client},
                        {"consumer", r.consumer},
                        {"key", r.key_id},
                        {"decision", r.decision},
                        {"method", r.method},
                        {"path", r.path},
                        {"status", r.status},
                        {"bytes", r.bytes},
                        {"upstream_status", r.upstream_status},
                        {"duration_ms", std::stod(duration)},
                        {"cache", r.cache}});
  }
  return "request_id=" + r.request_id + " client=" + r.client + " consumer=" + escaped(r.consumer) +
         " key=" + escaped(r.key_id) + " decision=" + escaped(r.decision) +
         " method=" + escaped(r.method) + " path=" + escaped(r.path) +
         " status=" + std::to_string(r.status) + " bytes=" + std::to_string(r.bytes) +
         " upstream_status=" + std::to_string(r.upstream_status) + " duration_ms=" + duration +
         " cache=" + r.cache;
}

bool access_enabled() { return access_logger && access_logger->should_log(spdlog::level::info); }

void access(const access_record& record) {
  // Formatted only when it will be written: with access lines off (level warn) a request pays
  // nothing for its log line.
  if (access_logger && access_logger->should_log(spdlog::level::info)) {
    access_logger->info(format_access(record, json_format));
  }
}

}  // namespace recgate::logging
