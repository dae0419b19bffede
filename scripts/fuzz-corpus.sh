#!/usr/bin/env bash
# Grows the committed fuzz corpora: runs each fuzz target for a while
# (FUZZTIME, default 30s) and copies up to MAX (default 40) per run of the
# interesting inputs the fuzzer found from Go's cache into the package's
# testdata/fuzz/<target>/, where `go test` runs them as regression cases.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-30s}
max=${MAX:-40}
module=$(go list -m)
cache=$(go env GOCACHE)/fuzz

for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  pkg=$module/${dir#./}
  for fn in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | cut -d' ' -f2); do
    echo "-- $pkg $fn"
    go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" "$dir" >/dev/null
    src=$cache/$pkg/$fn
    dst=$dir/testdata/fuzz/$fn
    [ -d "$src" ] || continue
    mkdir -p "$dst"
    # The smallest inputs first: they are the easiest to read when one fails.
    ls -S -r "$src" | head -n "$max" | while read -r f; do cp "$src/$f" "$dst/$f"; done
    echo "   $(ls "$dst" | wc -l) inputs in $dst"
  done
done
