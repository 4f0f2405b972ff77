#pragma once
// A child process for tests: started with its stdout and stderr merged into one pipe that a
// thread reads into lines, so a test can wait for "listening on ..." instead of sleeping.
// POSIX only. No Asio.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace test_support {

class child_process {
 public:
  // Starts argv[0] (searched on PATH when it has no '/') with argv. stdin is /dev/null.
  // Throws std::runtime_error when argv is empty or fork/pipe fail; an exec failure shows up as
  // exit code 127 and a line "child_process: cannot exec ...".
  explicit child_process(std::vector<std::string> argv);
  // terminate(), then joins the reader thread.
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // The first output line (from the start, not only new ones) for which `match` is true. Waits up
  // to `timeout`; nullopt on timeout or when the output ends (child exited) without a match.
  std::optional<std::string> wait_for_line(const std::function<bool(std::string_view)>& match,
                                           std::chrono::milliseconds timeout);

  // Every complete line so far (stdout and stderr merged, without '\n'), plus a final unterminated
  // line once the output has ended.
  std::vector<std::string> lines() const;

  int pid() const { return pid_; }

  // Waits up to `timeout` for the child to exit on its own. Returns its exit code (128 + signal
  // if killed by a signal), or nullopt if it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  // SIGTERM, then SIGKILL if it has not exited after `grace`; reaps it. Returns the exit code as
  // wait_exit does. Idempotent: later calls return the same code.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  void read_output();
  std::optional<int> try_reap();

  int pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  std::string partial_;
  bool output_ended_ = false;
  std::optional<int> exit_code_;
};

}  // namespace test_support
