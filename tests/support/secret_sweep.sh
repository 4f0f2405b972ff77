#!/usr/bin/env bash
# The secret sweep (issue 7): after the suites have run, no gateway output and no response they
# received may contain a secret they used (the SignalWire token, a consumer key, a signing key).
# The suites record both, and the secrets, under one folder (tests/support/artifacts.hpp).
#
#   secret_sweep.sh reset DIR   empty DIR before the suites run (ctest fixture setup)
#   secret_sweep.sh scan DIR    fail, naming the file, if any secret listed in DIR/secrets/ occurs
#                               in DIR/scan/; also fail when nothing (no secret, no gateway output
#                               or no response) was recorded, so it cannot pass on an empty folder
set -euo pipefail

usage() { echo "usage: secret_sweep.sh reset|scan DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
mode=$1 dir=$2

case $mode in
  reset)
    rm -rf "$dir"
    mkdir -p "$dir"
    exit 0
    ;;
  scan) ;;
  *) usage ;;
esac

fail() { echo "secret_sweep: FAILED: $*"; exit 1; }

[ -d "$dir" ] || fail "$dir does not exist: nothing was recorded (run the integration tests first)"
secret_files=$(find "$dir/secrets" -type f -name '*.txt' 2>/dev/null | sort || true)
[ -n "$secret_files" ] || fail "no secrets listed under $dir/secrets: nothing to look for"
outputs=$(find "$dir/scan" -type f -name 'output-*.log' 2>/dev/null | wc -l)
responses=$(find "$dir/scan" -type f -name 'responses.txt' -size +0 2>/dev/null | wc -l)
[ "$outputs" -gt 0 ] || fail "no gateway output was recorded under $dir/scan"
[ "$responses" -gt 0 ] || fail "no response was recorded under $dir/scan"

# Every secret once, with the file that listed it first (for the report; the secret itself is
# never printed).
declare -A listed_in=()
secrets=()
for f in $secret_files; do
  while IFS= read -r s || [ -n "$s" ]; do
    [ -n "$s" ] || continue
    if [ -z "${listed_in[$s]+x}" ]; then
      listed_in[$s]=$f
      secrets+=("$s")
    fi
  done <"$f"
done
[ ${#secrets[@]} -gt 0 ] || fail "the secret lists under $dir/secrets are empty"

# One pass over everything for all the secrets at once (-a: bodies are binary; -F: literal
# strings; -f: one per line), then, only for the files that hold one, which secrets they hold.
all_secrets=$(mktemp)
trap 'rm -f "$all_secrets"' EXIT
printf '%s\n' "${secrets[@]}" >"$all_secrets"
rc=0
hits=$(grep -r -l -a -F -f "$all_secrets" "$dir/scan") || rc=$?
[ "$rc" -le 1 ] || fail "grep could not search $dir/scan (exit $rc)"

leaks=0
while IFS= read -r hit; do
  [ -n "$hit" ] || continue
  for i in "${!secrets[@]}"; do
    s=${secrets[$i]}
    grep -q -a -F -e "$s" "$hit" || continue
    echo "secret_sweep: LEAK: secret #$((i + 1)) (${#s} characters, listed in ${listed_in[$s]}) occurs in $hit"
    leaks=$((leaks + 1))
  done
done <<<"$hits"

files=$(find "$dir/scan" -type f | wc -l)
bytes=$(du -sb "$dir/scan" | cut -f1)
[ "$leaks" -eq 0 ] || fail "$leaks file(s) hold a secret (see above)"
echo "secret_sweep: ${#secrets[@]} secrets, $files files ($outputs gateway outputs, $responses response logs, $bytes bytes): none holds a secret"
