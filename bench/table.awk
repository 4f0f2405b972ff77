# bench/run's table: reads results.tsv (one row per load and target, tab-separated), prints
# the markdown rows with a "recgate ÷ best peer" and a "recgate-keyed ÷ best peer" row per load
# (and "recgate-enc ÷ recgate" when bench/run --encrypt ran recgate-enc: the cost of encryption
# at rest), then the targets. Peers are the targets whose name does not start with "recgate".
# Usage: awk -F'\t' -v hwm=KIB -f loads.awk -f table.awk results.tsv   (hwm: recgate's VmHWM in KiB)
# Columns: 1 load, 2 target, 3 req/s, 4 MiB/s, 5 p50, 6 p99, 7 TTFB, 8 CPU, 9 upstream, 10 errors.
function ratio_of(t, load, c) {
  if (!((load, t, c) in v) || v[load, t, c] == "-" || !((load, c) in best) || best[load, c] == 0) return ""
  return v[load, t, c] / best[load, c]
}
function ratio(load, c) { return ratio_of("recgate", load, c) }
function has(load) { return (load, "recgate", 3) in v }
function has_enc(load) { return (load, "recgate-enc", 3) in v }
function enc_ratio(load, c) {
  if (!has_enc(load) || v[load, "recgate-enc", c] == "-" || v[load, "recgate", c] == "-" || \
      v[load, "recgate", c] + 0 == 0) return ""
  return v[load, "recgate-enc", c] / v[load, "recgate", c]
}
function check(ok, text) { printf "- %s %s\n", ok ? "met:" : "**not met:**", text }
{
  if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
  rows[$1] = rows[$1] sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", \
                              "@" $1 "@", $2, $3, $4, $5, $6, $7, $8, $9, $10)
  for (c = 3; c <= 9; c++) {
    v[$1, $2, c] = $c
    if ($2 !~ /^recgate/ && $c != "-" && (!(($1, c) in best) || better(c, $c + 0, best[$1, c])))
      best[$1, c] = $c + 0
  }
}
END {
  for (i = 1; i <= n; i++) name[order[i]] = load_name(order[i])
  for (i = 1; i <= n; i++) {
    load = order[i]
    text = rows[load]
    gsub("@" load "@", name[load], text)
    printf "%s", text
    for (k = 1; k <= 2; k++) {
      t = k == 1 ? "recgate" : "recgate-keyed"
      if (!((load, t, 3) in v)) continue
      r = "| " name[load] " | **" t " ÷ best peer** |"
      for (c = 3; c <= 9; c++) {
        x = ratio_of(t, load, c)
        r = r (x == "" ? " – |" : sprintf(" **%.2f×** |", x))
      }
      print r "  |"
    }
    if (has_enc(load)) {
      r = "| " name[load] " | **recgate-enc ÷ recgate** |"
      for (c = 3; c <= 9; c++) {
        x = enc_ratio(load, c)
        r = r (x == "" ? " – |" : sprintf(" **%.2f×** |", x))
      }
      print r "  |"
    }
  }
  print ""
  print "Targets of issue 9 (recgate against the best peer in this run):"
  if (has("hit-32k")) {
    check(ratio("hit-32k", 8) <= 1.0, sprintf("32 KiB hits, CPU per request ≤ 1.0× the best peer's: %.2f×", ratio("hit-32k", 8)))
    check(ratio("hit-32k", 3) >= 1.0, sprintf("32 KiB hits, requests/s ≥ 1.0×: %.2f×", ratio("hit-32k", 3)))
    check(ratio("hit-32k", 6) <= 1.0, sprintf("32 KiB hits, p99 ≤ 1.0×: %.2f×", ratio("hit-32k", 6)))
    if (ratio_of("recgate-keyed", "hit-32k", 8) != "")
      check(ratio_of("recgate-keyed", "hit-32k", 8) <= 1.15, sprintf("32 KiB hits, recgate-keyed's CPU per request ≤ 1.15× the best peer's (issue 16): %.2f×", ratio_of("recgate-keyed", "hit-32k", 8)))
  }
  if (has("hit-1m")) check(ratio("hit-1m", 4) >= 1.0, sprintf("1 MiB hits, MiB/s ≥ 1.0×: %.2f×", ratio("hit-1m", 4)))
  if (has("hit-10m")) check(ratio("hit-10m", 4) >= 1.0, sprintf("10 MiB hits, MiB/s ≥ 1.0×: %.2f×", ratio("hit-10m", 4)))
  if (has("json")) check(ratio("json", 3) >= 1.0, sprintf(".json pass-through, requests/s ≥ 1.0×: %.3f×", ratio("json", 3)))
  if (has("storm")) {
    up = v["storm", "recgate", 9]
    check(up == 1, sprintf("cold storm, exactly 1 upstream request: %d", up))
    lead = v["storm", "recgate", 7]; fol = v["storm", "recgate", 5]
    check(fol <= 1.2 * lead, sprintf("cold storm, followers' median TTFB ≤ 1.2× the leader's: %.1f vs %.1f ms (%.2f×)", fol, lead, lead > 0 ? fol / lead : 0))
  }
  if (has("range-cold")) check(ratio("range-cold", 7) <= 0.1, sprintf("cold Range, TTFB ≤ 0.1× the best peer's: %.2f×", ratio("range-cold", 7)))
  if (has("cold-streams")) check(hwm < 131072, sprintf("peak resident memory < 128 MiB with 50 cold 100 MiB streams: %.1f MiB", hwm / 1024))
  else printf "- recgate peak RSS (VmHWM) over this run: %.1f MiB (the < 128 MiB target is about 50 cold 100 MiB streams: bench/run --loads cold-streams)\n", hwm / 1024
  enc = ""
  for (i = 1; i <= n; i++) {
    load = order[i]
    if (enc_ratio(load, 4) != "" && enc_ratio(load, 8) != "")
      enc = enc sprintf("%s%s: MiB/s %.2f×, CPU per request %.2f×", enc == "" ? "" : "; ", name[load], enc_ratio(load, 4), enc_ratio(load, 8))
  }
  if (enc != "") print "\nEncryption at rest (recgate-enc ÷ recgate, same build, store encrypted with AES-256-GCM): " enc "."
}
