#!/usr/bin/env bash
# ctest: deploy/Dockerfile's runtime stage installs a package for every shared library the built
# recgate links (directly or as the Depends of a listed package), each of those package names
# exists in Debian, and the image keeps its promises (non-root user, cache volume, health check,
# tests off). No container engine runs here and Debian packages no Dockerfile linter, so this is
# what can be checked. Exit 77 (skipped) without dpkg/apt-cache/ldd.
#   check_dockerfile.sh DOCKERFILE RECGATE_BINARY
set -euo pipefail
dockerfile=$1
binary=$2

for tool in dpkg dpkg-query apt-cache ldd; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed"
    exit 77
  fi
done

fail=0
# The Dockerfile with continuation lines joined.
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' "$dockerfile")
# Every stage is bookworm.
if grep -E '^FROM ' <<<"$joined" | grep -vq 'debian:bookworm'; then
  echo "FAIL: a stage is not based on debian:bookworm"
  fail=1
fi
runtime=$(awk '/^FROM .* AS runtime/{on=1} on' <<<"$joined")
if [ -z "$runtime" ]; then
  echo "FAIL: no stage named runtime"
  exit 1
fi
# The packages of the runtime stage's `apt-get install` (options and shell words dropped).
packages=$(grep -o 'apt-get install[^&]*' <<<"$runtime" | sed 's/apt-get install//' | tr ' ' '\n' |
           grep -E '^[a-z0-9][a-z0-9.+-]+$' | sort -u)
echo "runtime packages: $(echo $packages)"

# One apt-cache call each (they are slow): which names exist, and what they depend on.
known=$(apt-cache show --no-all-versions $packages 2>/dev/null | sed -n 's/^Package: //p' || true)
for p in $packages; do
  if ! grep -qxF "$p" <<<"$known"; then
    echo "FAIL: no Debian package named $p"
    fail=1
  fi
done

# What the runtime stage provides: the listed packages, their direct Depends, and what every
# Debian image has (libc, libgcc, libstdc++ come with apt itself).
provided=$(printf '%s\n' $packages libc6 libgcc-s1 libstdc++6
           apt-cache depends --no-recommends --no-suggests $packages 2>/dev/null |
             sed -n 's/^ *\(Pre\)\{0,1\}Depends: //p' | tr -d '<>' | sed 's/:.*//' || true)

# The package of each library the binary needs, found by its path. Merged-/usr systems register
# a library under /lib or /usr/lib, and ldd may name either or a symlink: ask for every variant
# at once (dpkg -S is slow too) and take the first that has an owner.
libs=$(ldd "$binary" | awk '/=> \//{print $3}')
variants() {
  local lib=$1 real
  real=$(readlink -f "$lib")
  printf '%s\n' "$lib" "$real" "${lib#/usr}" "/usr$lib" "${real#/usr}" "/usr$real" | sort -u
}
owners=$(for lib in $libs; do variants "$lib"; done | sort -u | xargs dpkg -S 2>/dev/null || true)
for lib in $libs; do
  pkg=""
  for v in $(variants "$lib"); do
    # dpkg -S lines: "PACKAGE[:ARCH]: PATH".
    pkg=$(awk -v path="$v" '{ p = $0; sub(/^[^ ]+ /, "", p) }
                            p == path { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
    [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    echo "FAIL: no package owns $lib"
    fail=1
  elif ! grep -qxF "$pkg" <<<"$provided"; then
    echo "FAIL: recgate links $lib from $pkg, which the runtime stage does not install"
    fail=1
  fi
done

check() {  # check PATTERN MESSAGE: PATTERN (an ERE) must match a line of the runtime stage
  if ! grep -Eq "$1" <<<"$runtime"; then
    echo "FAIL: $2"
    fail=1
  fi
}
check '^USER +[1-9][0-9]*(:[1-9][0-9]*)?$' "the runtime stage must run as a numeric non-root USER"
check '^VOLUME .*/var/lib/recgate' "the cache folder /var/lib/recgate must be a VOLUME"
check '^HEALTHCHECK .*/healthz' "HEALTHCHECK must ask the admin listener's /healthz"
check '^ENTRYPOINT \["/usr/local/bin/recgate"\]' "ENTRYPOINT must be recgate"
if ! grep -q -- '-DRECGATE_BUILD_TESTS=OFF' <<<"$joined"; then
  echo "FAIL: the build stage must configure with -DRECGATE_BUILD_TESTS=OFF"
  fail=1
fi

[ "$fail" -eq 0 ] && echo "Dockerfile OK"
exit "$fail"
