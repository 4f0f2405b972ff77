#include "proxy/telemetry/process_metrics.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "proxy/telemetry/metrics.hpp"

namespace recgate::metrics {
namespace {

std::string read_whole(const char* path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The fields of /proc/self/stat after "pid (comm)": fields()[0] is the state (field 3 in
// proc(5)), so field N of proc(5) is fields()[N - 3]. The command name may hold spaces and
// parentheses; it ends at the last ')'.
std::vector<std::string> stat_fields() {
  auto text = read_whole("/proc/self/stat");
  auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(text.substr(close + 1));
  return {std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
}

std::optional<double> field(const std::vector<std::string>& fields, std::size_t proc5_number) {
  if (proc5_number < 3 || proc5_number - 3 >= fields.size()) return std::nullopt;
  try {
    return std::stod(fields[proc5_number - 3]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The boot time (seconds since the epoch): the "btime" line of /proc/stat.
std::optional<double> boot_time() {
  std::istringstream lines(read_whole("/proc/stat"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("btime ", 0) == 0) {
      try {
        return std::stod(line.substr(6));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

void write_optional(std::string& out, std::string_view name, std::string_view type,
                    std::string_view help, const std::optional<double>& value) {
  if (value) write_single(out, name, type, help, *value);
}

}  // namespace

process_sample read_process() {
  process_sample s;
  const auto fields = stat_fields();
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto utime = field(fields, 14);
  auto stime = field(fields, 15);
  if (utime && stime && ticks > 0) s.cpu_seconds = (*utime + *stime) / ticks;
  if (auto vsize = field(fields, 23)) s.virtual_bytes = *vsize;
  if (auto rss = field(fields, 24); rss && page > 0) s.resident_bytes = *rss * page;
  auto started = field(fields, 22);
  auto boot = boot_time();
  if (started && boot && ticks > 0) s.start_time_seconds = *boot + *started / ticks;

  std::error_code ec;
  double open = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++open;
  }
  if (!ec) s.open_fds = open;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return s;
}

void write_process_metrics(std::string& out, const process_sample& sample) {
  write_optional(out, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds", sample.cpu_seconds);
  write_optional(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes",
                 sample.resident_bytes);
  write_optional(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes",
                 sample.virtual_bytes);
  write_optional(out, "process_open_fds", "gauge", "Number of open file descriptors",
                 sample.open_fds);
  write_optional(out, "process_max_fds", "gauge", "Maximum number of open file descriptors",
                 sample.max_fds);
  write_optional(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds",
                 sample.start_time_seconds);
}

void write_build_info(std::string& out, std::string_view version, std::string_view revision) {
  out.append(
      "# HELP recgate_build_info The running recgate's version and source revision (always "
      "1)\n# TYPE recgate_build_info gauge\n");
  out.append("recgate_build_info{version=\"").append(escape_label(version));
  out.append("\",revision=\"").append(escape_label(revision)).append("\"} 1\n");
}

}  // namespace recgate::metrics
