# What bench/run's table.awk and spread.awk share: each load's name in the table, and which way
# is better in each column (table.awk's numbering: 3 req/s, 4 MiB/s, 5 p50, 6 p99, 7 TTFB, 8 CPU,
# 9 upstream requests).
function better(c, a, b) { return c <= 4 ? a > b : a < b }  # more req/s, MiB/s; less of the rest
function load_name(load) {
  if (load == "hit-32k") return "hits, 32 KiB"
  if (load == "hit-1m") return "hits, 1 MiB"
  if (load == "hit-10m") return "hits, 10 MiB"
  if (load == "hit-range") return "hits, Range 64 KiB in 10 MiB"
  if (load == "json") return ".json pass-through"
  if (load == "storm") return "cold storm, 100 × 10 MiB"
  if (load == "range-cold") return "cold Range, 64 KiB at 5 MiB"
  if (load == "cold-streams") return "cold streams, 50 × 100 MiB"
  return load
}
