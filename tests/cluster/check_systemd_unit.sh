#!/usr/bin/env bash
# ctest: deploy/systemd/recgate.service passes `systemd-analyze verify` and stays in the "OK"
# band of `systemd-analyze security`. Exit 77 (skipped) where systemd-analyze is missing.
#   check_systemd_unit.sh UNIT_FILE RECGATE_BINARY
set -euo pipefail
unit=$1
binary=$(readlink -f "$2")  # systemd wants an absolute path

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed"
  exit 77
fi

fail=0
# The settings the deployment relies on, besides what the exposure score covers.
for setting in 'DynamicUser=yes' 'StateDirectory=recgate' 'ProtectSystem=strict' \
               'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
               'ExecReload=/bin/kill -HUP $MAINPID' 'EnvironmentFile=/etc/recgate/recgate.env' \
               'ExecStart=/usr/local/bin/recgate serve --config /etc/recgate/recgate.toml'; do
  if ! grep -qxF -- "$setting" "$unit"; then
    echo "FAIL: $unit lacks the line: $setting"
    fail=1
  fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify checks that ExecStart's program exists: point it at the binary just built.
sed "s#/usr/local/bin/recgate#${binary}#g" "$unit" > "$tmp/recgate.service"

if ! out=$(systemd-analyze verify "$tmp/recgate.service" 2>&1); then
  echo "FAIL: systemd-analyze verify:"
  echo "$out"
  fail=1
elif grep -q 'recgate.service' <<<"$out"; then
  # Warnings about our unit (unknown settings, bad values) do not change the exit code.
  echo "FAIL: systemd-analyze verify warns:"
  echo "$out"
  fail=1
fi

# 2.0 and below is the "OK" band; the unit scores about 1.4.
if ! out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/recgate.service" 2>&1); then
  echo "FAIL: systemd-analyze security: exposure above 2.0"
  echo "$out" | tail -n 25
  fail=1
else
  echo "$out" | tail -n 1
fi

[ "$fail" -eq 0 ] && echo "systemd unit OK"
exit "$fail"
