# bench/run --repeat N: each ratio's median and spread over the rounds. Reads the rounds' results
# (tab-separated: the round, then table.awk's columns) and, per round, compares recgate and
# recgate-keyed with that round's best peer (a target whose name does not start with "recgate").
# Prints one markdown row per load, target and column: median, lowest, highest.
# Usage: awk -F'\t' -f loads.awk -f spread.awk rounds.tsv
function median(list, n,    i, j, t, a) {  # also sets lo and hi
  split(list, a, " ")
  for (i = 1; i <= n; i++)
    for (j = i + 1; j <= n; j++)
      if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  lo = a[1]; hi = a[n]
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
  round = $1
  $0 = substr($0, index($0, "\t") + 1)  # from here on table.awk's columns: 1 load, 2 target, ...
  if ($1 ~ /^(storm|range-cold|cold-streams)$/) next  # the cold loads ran once
  if (!($1 in seen)) { seen[$1] = 1; order[++loads] = $1 }
  rounds[round] = 1
  for (c = 3; c <= 8; c++) {
    v[round, $1, $2, c] = $c
    if ($2 !~ /^recgate/ && $c != "-" && (!((round, $1, c) in best) || better(c, $c + 0, best[round, $1, c])))
      best[round, $1, c] = $c + 0
  }
}
END {
  column[3] = "req/s"; column[4] = "MiB/s"; column[6] = "p99"; column[8] = "CPU µs/req"
  print "| load | ratio | column | median | lowest | highest | rounds |"
  print "|---|---|---|---:|---:|---:|---:|"
  for (i = 1; i <= loads; i++) {
    load = order[i]
    for (k = 1; k <= 2; k++) {
      t = k == 1 ? "recgate" : "recgate-keyed"
      for (c = 3; c <= 8; c++) {
        if (!(c in column)) continue
        list = ""; n = 0
        for (r in rounds) {
          if (!((r, load, t, c) in v) || v[r, load, t, c] == "-" || !((r, load, c) in best) || best[r, load, c] == 0) continue
          list = list " " (v[r, load, t, c] / best[r, load, c]); n++
        }
        if (n == 0) continue
        m = median(list, n)
        printf "| %s | %s ÷ best peer | %s | %.2f× | %.2f× | %.2f× | %d |\n", load_name(load), t, column[c], m, lo, hi, n
      }
    }
  }
}
