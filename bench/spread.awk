# bench/run --repeat N: each ratio's median and spread over the rounds. Reads the rounds' results
# (tab-separated, the round first, then table.awk's columns) and, per round, compares recgate and
# recgate-keyed with that round's best peer (a target whose name does not start with "recgate").
# Prints one markdown row per load, target and column: median, lowest, highest.
# Columns: 1 round, 2 load, 3 target, 4 req/s, 5 MiB/s, 6 p50, 7 p99, 8 TTFB, 9 CPU, ...
function better(c, a, b) { return c <= 5 ? a > b : a < b }  # more req/s, MiB/s; less of the rest
function median(list, n,    i, j, t, a) {
  split(list, a, " ")
  for (i = 1; i <= n; i++)
    for (j = i + 1; j <= n; j++)
      if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  lo = a[1]; hi = a[n]
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  if (!($2 in seen)) { seen[$2] = 1; order[++loads] = $2 }
  rounds[$1] = 1
  for (c = 4; c <= 9; c++) {
    v[$1, $2, $3, c] = $c
    if ($3 !~ /^recgate/ && $c != "-" && (!(($1, $2, c) in best) || better(c, $c + 0, best[$1, $2, c])))
      best[$1, $2, c] = $c + 0
  }
}
END {
  name["hit-32k"] = "hits, 32 KiB"; name["hit-1m"] = "hits, 1 MiB"; name["hit-10m"] = "hits, 10 MiB"
  name["hit-range"] = "hits, Range 64 KiB in 10 MiB"; name["json"] = ".json pass-through"
  column[4] = "req/s"; column[5] = "MiB/s"; column[7] = "p99"; column[9] = "CPU µs/req"
  print "| load | ratio | column | median | lowest | highest | rounds |"
  print "|---|---|---|---:|---:|---:|---:|"
  for (i = 1; i <= loads; i++) {
    load = order[i]
    if (!(load in name)) continue  # the cold loads ran once
    for (k = 1; k <= 2; k++) {
      t = k == 1 ? "recgate" : "recgate-keyed"
      for (c = 4; c <= 9; c++) {
        if (!(c in column)) continue
        list = ""; n = 0
        for (r in rounds) {
          if (!((r, load, t, c) in v) || v[r, load, t, c] == "-" || !((r, load, c) in best) || best[r, load, c] == 0) continue
          list = list " " (v[r, load, t, c] / best[r, load, c]); n++
        }
        if (n == 0) continue
        m = median(list, n)
        printf "| %s | %s ÷ best peer | %s | %.2f× | %.2f× | %.2f× | %d |\n", name[load], t, column[c], m, lo, hi, n
      }
    }
  }
}
