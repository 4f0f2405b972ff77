// The Prometheus text exposition module.
#include <ctime>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include "proxy/telemetry/metrics.hpp"
#include "proxy/telemetry/process_metrics.hpp"

using namespace recgate::metrics;

TEST_CASE("labelled counters: one series per label set, values escaped") {
  labeled_counter c("x_total", "Things", {"route", "consumer"});
  c.add({"audio", "billing"});
  c.add({"audio", "billing"}, 4);
  c.add({"audio", "we\"ird\\na\nme"});
  CHECK(c.value({"audio", "billing"}) == 5);
  CHECK(c.value({"metadata", "billing"}) == 0);
  std::string out;
  c.write(out);
  CHECK(out.find("# HELP x_total Things\n# TYPE x_total counter\n") == 0);
  CHECK(out.find("x_total{route=\"audio\",consumer=\"billing\"} 5\n") != std::string::npos);
  CHECK(out.find(R"(x_total{route="audio",consumer="we\"ird\\na\nme"} 1)") != std::string::npos);
}

TEST_CASE("histograms: cumulative buckets, +Inf, sum and count") {
  histogram h("lat_seconds", "Latency", {0.1, 1});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(0.5);
  h.observe(3);
  std::string out;
  h.write(out);
  CHECK(out.find("lat_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{le=\"1\"} 3\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos);
  CHECK(out.find("lat_seconds_sum 4.05\n") != std::string::npos);
  CHECK(out.find("lat_seconds_count 4\n") != std::string::npos);
}

TEST_CASE("labelled histograms: a series per label set, unlisted values under the last one") {
  labeled_histogram h("req_seconds", "Request time",
                      {{"route", {"audio", "metadata", "other"}}, {"cache", {"HIT", "MISS", "-"}}},
                      {0.001, 0.01});
  h.observe({"audio", "HIT"}, 0.0005);
  h.observe({"audio", "HIT"}, 0.005);
  h.observe({"metadata", "-"}, 2);
  h.observe({"sign", "NEGATIVE"}, 0.002);  // neither listed: other, -
  CHECK(h.count({"audio", "HIT"}) == 2);
  CHECK(h.count({"audio", "MISS"}) == 0);
  CHECK(h.count({"other", "-"}) == 1);
  std::string out;
  h.write(out);
  CHECK(out.find("# HELP req_seconds Request time\n# TYPE req_seconds histogram\n") == 0);
  CHECK(out.find("req_seconds_bucket{route=\"audio\",cache=\"HIT\",le=\"0.001\"} 1\n") !=
        std::string::npos);
  CHECK(out.find("req_seconds_bucket{route=\"audio\",cache=\"HIT\",le=\"+Inf\"} 2\n") !=
        std::string::npos);
  CHECK(out.find("req_seconds_sum{route=\"audio\",cache=\"HIT\"} 0.0055\n") != std::string::npos);
  CHECK(out.find("req_seconds_count{route=\"metadata\",cache=\"-\"} 1\n") != std::string::npos);
  CHECK(out.find("req_seconds_bucket{route=\"metadata\",cache=\"-\",le=\"0.01\"} 0\n") !=
        std::string::npos);
  CHECK(out.find("req_seconds_count{route=\"other\",cache=\"-\"} 1\n") != std::string::npos);
  // Series without observations are left out.
  CHECK(out.find("cache=\"MISS\"") == std::string::npos);
}

TEST_CASE("single values") {
  std::string out;
  write_single(out, "up", "gauge", "Up", 1);
  write_single(out, "ratio", "gauge", "A ratio", 0.25);
  CHECK(out ==
        "# HELP up Up\n# TYPE up gauge\nup 1\n# HELP ratio A ratio\n# TYPE ratio gauge\nratio "
        "0.25\n");
}

TEST_CASE("process metrics: read from /proc/self, and they follow the process") {
  auto before = read_process();
  REQUIRE(before.open_fds.has_value());
  REQUIRE(before.resident_bytes.has_value());
  REQUIRE(before.start_time_seconds.has_value());
  REQUIRE(before.cpu_seconds.has_value());
  int fd = ::open("/proc/self/stat", O_RDONLY);
  REQUIRE(fd >= 0);
  auto after = read_process();
  ::close(fd);
  CHECK(*after.open_fds == *before.open_fds + 1);
  CHECK(*before.resident_bytes > 1e5);
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(*before.start_time_seconds <= now + 1);
  CHECK(*before.start_time_seconds > now - 3600);
  std::string out;
  write_process_metrics(out, after);
  CHECK(out.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ") !=
        std::string::npos);
  CHECK(out.find("\nprocess_open_fds " + std::to_string(static_cast<long long>(*after.open_fds)) +
                 "\n") != std::string::npos);
  // A value that could not be read is left out, not written as 0.
  process_sample partial;
  partial.open_fds = 7;
  out.clear();
  write_process_metrics(out, partial);
  CHECK(out.find("process_open_fds 7\n") != std::string::npos);
  CHECK(out.find("process_resident_memory_bytes") == std::string::npos);
}

TEST_CASE("build info: one series, its labels escaped") {
  std::string out;
  write_build_info(out, "0.1.0", "abc\"def");
  CHECK(out.find("recgate_build_info{version=\"0.1.0\",revision=\"abc\\\"def\"} 1\n") !=
        std::string::npos);
}
