#include "gateway_fixture.hpp"

#include <fstream>
#include <random>
#include <regex>
#include <span>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <signal.h>

#include "artifacts.hpp"
#include "laml_sim/laml_sim.hpp"
#include "read_file.hpp"

namespace gateway_test {
namespace {

unsigned short port_from_line(const std::optional<std::string>& line, const char* what) {
  if (!line) throw std::runtime_error(std::string(what) + " did not start listening");
  return static_cast<unsigned short>(std::stoul(line->substr(line->rfind(':') + 1)));
}

bool is_listening_line(std::string_view prefix, std::string_view line) {
  return line.starts_with(prefix) && line.find("listening on") != std::string_view::npos;
}

// The signing keys a config names (secret_env, secret_file), for the secret sweep.
void record_config_secrets(const std::string& config) {
  static const std::regex env_line(R"re(secret_env\s*=\s*"([^"]+)")re");
  static const std::regex file_line(R"re(secret_file\s*=\s*"([^"]+)")re");
  for (std::sregex_iterator it(config.begin(), config.end(), env_line), end; it != end; ++it) {
    if (const char* v = std::getenv((*it)[1].str().c_str())) test_support::artifacts::add_secret(v);
  }
  for (std::sregex_iterator it(config.begin(), config.end(), file_line), end; it != end; ++it) {
    // A test may name a file that is not there (the gateway must then refuse to start).
    if (!std::filesystem::exists((*it)[1].str())) continue;
    auto text = test_support::read_file((*it)[1].str());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    test_support::artifacts::add_secret(text);
  }
}

}  // namespace

std::string sha256_hex(std::string_view key) {
  test_support::artifacts::add_secret(key);
  return test_support::sha256_hex(key);
}

headers with_key(headers extra) {
  extra.emplace_back("Authorization", std::string("Bearer ") + consumer_key);
  return extra;
}

std::string recording_path(const std::string& sid, const std::string& ext,
                           const std::string& prefix) {
  return prefix + "/2010-04-01/Accounts/" + project_id + "/Recordings/" + sid +
         (ext.empty() ? "" : "." + ext);
}

stack::stack(stack_options options) : tls_(options.tls), gateway_prefix_(options.gateway_prefix) {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("recgate-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir_);

  std::vector<std::string> sim_argv{
      LAML_SIM_BIN,   "--listen",   "127.0.0.1:0",
      "--project-id", project_id,   "--api-token",
      api_token,      "--duration", std::to_string(options.sim_seconds),
      "--quiet"};
  sim_argv.insert(sim_argv.end(), options.sim_args.begin(), options.sim_args.end());
  sim_ = std::make_unique<test_support::child_process>(std::move(sim_argv));
  sim_port_ = port_from_line(
      sim_->wait_for_line([](std::string_view l) { return is_listening_line("laml-sim:", l); },
                          std::chrono::seconds(10)),
      "laml-sim");

  std::ofstream(dir_ / "token") << api_token << "\n";
  const std::string scheme_host = options.upstream_scheme_host.empty()
                                      ? std::string("http://127.0.0.1")
                                      : options.upstream_scheme_host;
  std::string upstream = options.upstream_url.empty()
                             ? scheme_host + ":" + std::to_string(sim_port_)
                             : options.upstream_url;
  // "@SIM_PORT@" in extra_config is the simulator's port (a URL pointing at laml-sim).
  for (auto at = options.extra_config.find("@SIM_PORT@"); at != std::string::npos;
       at = options.extra_config.find("@SIM_PORT@")) {
    options.extra_config.replace(at, 10, std::to_string(sim_port_));
  }
  std::ofstream(dir_ / "recgate.toml")
      << "[server]\nlisten = \"127.0.0.1:0\"\nthreads = " << options.threads << "\n"
      << options.extra_server << "\n"
      << "[upstream]\nbase_url = \"" << upstream << "\"\nproject_id = \"" << project_id
      << "\"\napi_token_env = \"RECGATE_TEST_UNSET_TOKEN\"\napi_token_file = \""
      << (dir_ / "token").string() << "\"\n"
      << "connect_timeout = \"2s\"\nheader_timeout = \"" << options.upstream_header_timeout
      << "\"\nidle_timeout = \"" << options.upstream_idle_timeout << "\"\n"
      << options.extra_upstream << "\n"
      << (options.cache
              ? "[cache]\npath = \"" +
                    (options.cache_path.empty() ? (dir_ / "cache").string() : options.cache_path) +
                    "\"\n" + options.extra_cache + "\n"
              : "")
      << "[admin]\nlisten = \"127.0.0.1:0\"\n"
      << options.extra_admin << "\n"
      << "[log]\nlevel = \"info\"\nformat = \"json\"\n"
      << options.extra_config << "\n"
      << "[[consumers]]\nid = \"billing-service\"\nscopes = [\"audio\", \"metadata\"]\n"
      << "accounts = [\"" << project_id << "\"]\nkey_sha256 = \"" << sha256_hex(consumer_key)
      << "\"\n"
      << options.extra_consumers;
  test_support::artifacts::add_secret(api_token);
  // What the gateway sends upstream: "Basic " + base64(project_id:api_token). The token is not in
  // it as text, so the encoded form is a secret of its own.
  test_support::artifacts::add_secret(test_support::basic_authorization(project_id, api_token)
                                          .substr(std::string("Basic ").size()));
  record_config_secrets(test_support::read_file(dir_ / "recgate.toml"));

  start_gateway();
}

void stack::start_gateway() {
  auto argv = gateway_prefix_;
  argv.insert(argv.end(), {RECGATE_BIN, "serve", "--config", (dir_ / "recgate.toml").string()});
  gateway_ = std::make_unique<test_support::child_process>(std::move(argv));
  output_saved_ = false;
  gateway_port_ = port_from_line(
      gateway_->wait_for_line(
          [](std::string_view l) { return is_listening_line("recgate: listening", l); },
          std::chrono::seconds(10)),
      "recgate");
  if (tls_) {
    tls_port_ = port_from_line(
        gateway_->wait_for_line(
            [](std::string_view l) { return is_listening_line("recgate: tls listening", l); },
            std::chrono::seconds(10)),
        "the TLS listener");
  }
  admin_port_ = port_from_line(
      gateway_->wait_for_line(
          [](std::string_view l) { return is_listening_line("recgate: admin listening", l); },
          std::chrono::seconds(10)),
      "the admin listener");
  for (auto port : {gateway_port_, tls_port_, admin_port_}) {
    if (port != 0) test_support::artifacts::watch_port(port);
  }
}

void stack::save_gateway_output() {
  if (output_saved_ || !gateway_) return;
  output_saved_ = true;
  test_support::artifacts::save_output("recgate", gateway_->lines());
  for (auto port : {gateway_port_, tls_port_, admin_port_}) {
    if (port != 0) test_support::artifacts::unwatch_port(port);
  }
}

test_support::http_result stack::admin(const std::string& method, const std::string& target) {
  return test_support::request("127.0.0.1", admin_port_, method, target);
}

void stack::signal_gateway(int sig) { ::kill(gateway_->pid(), sig); }

int stack::wait_gateway_exit(std::chrono::milliseconds timeout) {
  return gateway_->wait_exit(timeout).value_or(-1);
}

void stack::restart_gateway() {
  gateway_->terminate();
  save_gateway_output();
  start_gateway();
}

void stack::crash_and_restart_gateway() {
  ::kill(gateway_->pid(), SIGKILL);
  gateway_->terminate();  // reaps it
  save_gateway_output();
  start_gateway();
}

void stack::set_upstream(const std::string& base_url) {
  static const std::regex line(R"(base_url = "[^"]*")");
  auto config = test_support::read_file(config_path());
  std::ofstream(config_path()) << std::regex_replace(
      config, line, "base_url = \"" + base_url + "\"", std::regex_constants::format_first_only);
  restart_gateway();
}

bool stack::wait_gateway_line(const std::vector<std::string>& texts,
                              std::chrono::milliseconds timeout) {
  return gateway_
      ->wait_for_line(
          [&](std::string_view line) {
            for (const auto& t : texts) {
              if (line.find(t) == std::string_view::npos) return false;
            }
            return true;
          },
          timeout)
      .has_value();
}

bool stack::wait_gateway_output(const std::string& text, int n, std::chrono::milliseconds timeout) {
  int seen = 0;
  // wait_for_line scans from the first line each time: count matches until the n-th.
  return gateway_
      ->wait_for_line(
          [&](std::string_view line) {
            if (line.find(text) == std::string_view::npos) return false;
            return ++seen >= n;
          },
          timeout)
      .has_value();
}

void stack::sim_clear_faults() {
  auto r = test_support::request("127.0.0.1", sim_port_, "DELETE", "/__sim/faults");
  if (r.status != 204) throw std::runtime_error("sim faults not cleared: " + r.body);
}

stack::~stack() {
  if (gateway_) {
    gateway_->terminate();
    save_gateway_output();
  }
  gateway_.reset();
  sim_.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

test_support::http_result stack::get(const std::string& target, headers h,
                                     const std::string& method) {
  return test_support::request("127.0.0.1", gateway_port_, method, target, std::move(h));
}

test_support::http_result stack::sim_get(const std::string& target) {
  headers h;
  if (target.ends_with(".json")) {
    h.emplace_back("Authorization", test_support::basic_authorization(project_id, api_token));
  }
  return test_support::request("127.0.0.1", sim_port_, "GET", target, h);
}

nlohmann::json stack::sim_stats() {
  auto r = test_support::request("127.0.0.1", sim_port_, "GET", "/__sim/requests");
  if (r.status != 200) throw std::runtime_error("sim stats: " + r.error);
  return nlohmann::json::parse(r.body);
}

void stack::sim_fault(const nlohmann::json& rule) {
  auto r = test_support::request("127.0.0.1", sim_port_, "POST", "/__sim/faults",
                                 {{"Content-Type", "application/json"}}, rule.dump());
  if (r.status != 204) throw std::runtime_error("sim fault rejected: " + r.body);
}

std::vector<std::string> stack::stop_gateway() {
  gateway_->terminate();
  save_gateway_output();
  return gateway_->lines();
}

std::string consumer_entry(const std::string& id, const std::string& scope,
                           const std::string& key) {
  return "[[consumers]]\nid = \"" + id + "\"\nscopes = [\"" + scope +
         "\"]\naccounts = [\"*\"]\nkey_sha256 = \"" + sha256_hex(key) + "\"\n";
}

void check_json_error(const test_support::http_result& r, unsigned status) {
  CHECK(r.status == status);
  CHECK(r.header("Content-Type") == std::string("application/json"));
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body["status"] == status);
  CHECK(body.contains("code"));
  CHECK(body.contains("message"));
  CHECK(body.contains("more_info"));
}

namespace {

// Parses Prometheus text format into series -> value, checking every line: each sample must
// follow a # TYPE line of its metric family.
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream t(line.substr(7));
      std::string type;
      t >> family >> type;
      CHECK((type == "counter" || type == "gauge" || type == "histogram"));
      continue;
    }
    REQUIRE_MESSAGE(line[0] != '#', line);
    auto space = line.rfind(' ');
    REQUIRE_MESSAGE(space != std::string::npos, line);
    std::string series = line.substr(0, space);
    auto name = series.substr(0, series.find('{'));
    CHECK_MESSAGE(name.starts_with(family), line);
    if (auto brace = series.find('{'); brace != std::string::npos) CHECK(series.back() == '}');
    std::size_t used = 0;
    double v = std::stod(line.substr(space + 1), &used);
    CHECK(used == line.size() - space - 1);
    out[series] = v;
  }
  return out;
}

}  // namespace

std::map<std::string, double> scrape(stack& s) {
  auto r = s.admin("GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").value_or("").starts_with("text/plain; version=0.0.4"));
  return parse_metrics(r.body);
}

bool wait_metric(stack& s, const std::string& series, const std::function<bool(double)>& done,
                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const double now = scrape(s)[series];
    if (done(now)) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      MESSAGE(series << " stayed at " << now << " for " << timeout.count() << " ms");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string expected_body(const std::string& sid, const std::string& ext) {
  if (ext == "json") return laml_sim::metadata_json(sid, project_id, sim_duration);
  const auto format = ext == "mp3" ? laml_sim::audio_format::mp3 : laml_sim::audio_format::wav;
  std::string out(laml_sim::body_size(sid, format, sim_duration), '\0');
  laml_sim::fill_body(sid, format, sim_duration, 0, std::span<char>(out.data(), out.size()));
  return out;
}

long upstream_fetches(const nlohmann::json& sim_stats, const std::string& path) {
  const auto paths = sim_stats.find("paths");
  return paths == sim_stats.end() ? 0 : paths->value(path, 0L);
}

long upstream_fetches(stack& s, const std::string& path) {
  return upstream_fetches(s.sim_stats(), path);
}

test_support::http_result wait_for_hit(stack& s, const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto r = s.get(path, with_key(), "HEAD");
  while (r.header("X-Cache") != std::string("HIT") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    r = s.get(path, with_key(), "HEAD");
  }
  REQUIRE(r.header("X-Cache") == std::string("HIT"));
  return r;
}

std::string run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  test_support::child_process p(argv);
  // Never matches: returns once the output has ended, so lines() below is complete.
  p.wait_for_line([](std::string_view) { return false; }, timeout);
  const auto code = p.wait_exit(timeout);
  std::string out;
  for (const auto& line : p.lines()) out += line + "\n";
  REQUIRE_MESSAGE(code == 0, argv[0], " ", argv[1], " failed: ", out);
  return out;
}

long peak_rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace gateway_test
