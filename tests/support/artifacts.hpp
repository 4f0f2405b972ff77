#pragma once
// What the test suites saw of the gateways, kept for the secret sweep (tests/support/
// secret_sweep.sh): every gateway's output, every response a watched port gave, and the secrets
// the tests used. Recording is on only when RECGATE_TEST_ARTIFACTS names a folder (ctest sets it
// for integration_tests and cluster_tests); otherwise every call here does nothing.
//
// Layout under that folder, one set of files per test process (pid):
//   secrets/PID.txt             one secret a line: API tokens, consumer keys, signing keys
//   scan/PID/responses.txt      status line, headers and body of each response from a watched port
//   scan/PID/output-N-NAME.log  everything one gateway process printed (stdout and stderr)
// Bodies are kept whole up to 1 MiB; audio bodies (Content-Type audio/*) only their first and last
// 8 KiB, since tests compare those byte for byte anyway and a run moves gigabytes of audio; a body
// whose kept text is identical to one kept before is noted, not kept again.
//
// Thread-safe: tests record from several threads at once.

#include <string>
#include <string_view>
#include <vector>

#include "http_client.hpp"

namespace test_support::artifacts {

// True when RECGATE_TEST_ARTIFACTS is set.
bool enabled();

// A secret no gateway output or response may contain. Empty strings are ignored.
void add_secret(std::string_view secret);

// Responses from this port (a gateway's listener) are recorded from now on, until unwatch_port.
void watch_port(unsigned short port);
void unwatch_port(unsigned short port);

// Saves the whole output of one gateway process; `name` says which (e.g. "recgate").
void save_output(std::string_view name, const std::vector<std::string>& lines);

// Called by the HTTP client for every exchange: recorded when `port` is watched.
void record_response(unsigned short port, const http_result& r);
void record_raw(unsigned short port, std::string_view received);

}  // namespace test_support::artifacts
