-- wrk script for bench/run. Environment:
--   BENCH_AUTHORIZATION   an Authorization header value to send (the .json load)
--   BENCH_RANGE_BYTES     > 0: every request asks for a Range of this many bytes at a random
--   BENCH_OBJECT_BYTES    offset inside an object of this size (the same sequence every run)
-- done() prints one machine-readable line, "WRK key=value ...", that bench/run reads: bytes are
-- everything received (headers included), latencies in microseconds.

local auth = os.getenv("BENCH_AUTHORIZATION")
local range_bytes = tonumber(os.getenv("BENCH_RANGE_BYTES") or "0") or 0
local object_bytes = tonumber(os.getenv("BENCH_OBJECT_BYTES") or "0") or 0

if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

if range_bytes > 0 then
  math.randomseed(9)
  request = function()
    local first = math.random(0, object_bytes - range_bytes)
    wrk.headers["Range"] = string.format("bytes=%d-%d", first, first + range_bytes - 1)
    return wrk.format()
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
