#!/usr/bin/env bash
# Runs epermit's whole test suite: vet, proto lint and freshness, every Go
# test under the race detector (end-to-end tests start real permitd
# processes on loopback), then each fuzz target for a short while.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10s}
buf() { go tool -modfile=tools/buf/go.mod buf "$@"; }

echo "== go vet"
go vet ./...

echo "== buf lint, and the generated code matches the .proto files"
buf lint
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
buf generate -o "$gen"
for f in $(cd "$gen" && find . -name '*.go'); do
  cmp -s "$gen/$f" "$f" || { echo "generated $f is stale: run go generate ./proto/..."; exit 1; }
done

echo "== go test -race"
go test -race -count=1 ./...

echo "== fuzz targets, $fuzztime each"
for target in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for fn in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$target"/*_test.go | cut -d' ' -f2); do
    echo "-- $target $fn"
    go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" "$target"
  done
done
echo "== all tests passed"
