// The Prometheus text exposition module.
#include <doctest/doctest.h>

#include "proxy/telemetry/metrics.hpp"

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

TEST_CASE("single values") {
  std::string out;
  write_single(out, "up", "gauge", "Up", 1);
  write_single(out, "ratio", "gauge", "A ratio", 0.25);
  CHECK(out ==
        "# HELP up Up\n# TYPE up gauge\nup 1\n# HELP ratio A ratio\n# TYPE ratio gauge\nratio "
        "0.25\n");
}
