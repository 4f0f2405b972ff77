#!/usr/bin/env bash
# Proves the secret sweep can fail: an empty or half-recorded folder fails, a clean one passes,
# and a secret planted in a response or in a gateway's output fails naming that file.
#   secret_sweep_selftest.sh PATH/TO/secret_sweep.sh
set -euo pipefail
sweep=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

expect() {  # WANT(pass|fail) NAME DIR [TEXT the output must contain]
  local want=$1 name=$2 dir=$3 text=${4:-} out rc=0
  out=$(bash "$sweep" scan "$dir" 2>&1) || rc=$?
  local got=pass
  [ "$rc" -eq 0 ] || got=fail
  if [ "$got" != "$want" ]; then
    echo "selftest: $name: the sweep should $want, it did $got:"
    echo "$out"
    failures=$((failures + 1))
  elif [ -n "$text" ] && ! grep -qF -- "$text" <<<"$out"; then
    echo "selftest: $name: the output does not mention \"$text\":"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "selftest: $name: $got as it should"
  fi
}

secret='PT-planted-token-5e6f7a8b9c0d1e2f'
key='rgk_planted-consumer-key-0a1b2c3d'

# A folder as the suites leave it: secrets listed, an output and responses recorded.
make_clean() {  # DIR
  mkdir -p "$1/secrets" "$1/scan/100"
  printf '%s\n%s\n' "$secret" "$key" >"$1/secrets/100.txt"
  printf '{"level":"info","msg":"listening"}\n' >"$1/scan/100/output-1-recgate.log"
  printf -- '--- response from port 1\nHTTP/1.1 401\nContent-Type: application/json\n\n{"code":20003}\n' \
    >"$1/scan/100/responses.txt"
  head -c 4096 /dev/urandom >>"$1/scan/100/responses.txt"  # binary, as audio bodies are
}

expect fail "a folder that does not exist" "$work/missing" "does not exist"
mkdir -p "$work/empty"
expect fail "an empty folder" "$work/empty" "no secrets listed"

mkdir -p "$work/no-output/secrets" "$work/no-output/scan/1"
echo "$secret" >"$work/no-output/secrets/1.txt"
printf 'x\n' >"$work/no-output/scan/1/responses.txt"
expect fail "secrets but no gateway output" "$work/no-output" "no gateway output"

make_clean "$work/clean"
expect pass "a clean folder" "$work/clean"

make_clean "$work/in-body"
printf -- '--- response from port 1\nHTTP/1.1 200\n\nthe body says %s\n' "$key" >>"$work/in-body/scan/100/responses.txt"
expect fail "a consumer key in a response body" "$work/in-body" "occurs in $work/in-body/scan/100/responses.txt"

make_clean "$work/in-log"
printf '{"msg":"upstream Authorization: Basic x %s"}\n' "$secret" >"$work/in-log/scan/100/output-2-recgate.log"
expect fail "the token in a gateway's output" "$work/in-log" "occurs in $work/in-log/scan/100/output-2-recgate.log"

make_clean "$work/in-binary"
{ head -c 1000 /dev/zero; printf '%s' "$secret"; head -c 1000 /dev/zero; } >>"$work/in-binary/scan/100/responses.txt"
expect fail "the token inside binary bytes" "$work/in-binary" "secret #1"

[ "$failures" -eq 0 ] || { echo "selftest: $failures check(s) failed"; exit 1; }
echo "selftest: the sweep fails on every planted leak and on a folder with nothing recorded"
